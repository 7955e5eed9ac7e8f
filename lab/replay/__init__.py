"""Field-event replay: a recorded (or reference) field event run again on a lab bench.

The event file (flexbench.twin.events) gives a timeline of twin changes and
operator signals and the field measurements. The replay

1. runs the twin through the timeline first, in the calling thread (OpenDSS):
   the site's PCC voltage and envelope after every change (steps.py);
2. maps every field power to the bench's site by the event's ratio and plays
   the timeline on the bench in bench time: instruments set the conditions
   (PV simulator, AC loads, grid voltage), operator signals go over the bench's
   2030.5 server, the recorder keeps the lab's response (run.py);
3. scores the lab against the field trace (score.py) and writes the run folder:
   report.html with the overlay, results.json, samples (report.py).
"""

from flexbench.lab.replay.run import replay

__all__ = ["replay"]
