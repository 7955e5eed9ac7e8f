"""Field-event replay: a recorded (or reference) field event run again on a lab bench.

The event file gives a timeline of twin changes and operator signals and the
field measurements (read by flexbench.twin.events), and how the field site maps
to the bench's and how the match is scored (read by event.py). The replay

1. runs the twin through the timeline first, in the calling thread (OpenDSS):
   the site's PCC voltage and envelope after every change (steps.py);
2. maps every field power to the bench's site by the event's ratio and plays
   the timeline on the bench in bench time: instruments set the conditions
   (PV simulator, AC loads, grid voltage), operator signals go over the bench's
   2030.5 server, the recorder keeps the lab's response (run.py);
3. scores the lab against the field trace (score.py) and writes the run folder:
   report.html with the overlay, results.json, samples (report.py).
"""

from flexbench.lab.replay.event import ReplayEvent, read_replay_event
from flexbench.lab.replay.run import replay

__all__ = ["ReplayEvent", "read_replay_event", "replay"]
