"""The OpenDSS engine behind one twin: one private context, so twins never share state.

opendssdirect's default instance is a process-wide singleton; two feeders in one
process (or a feeder solved while another is being edited) need separate
contexts. Everything that talks to OpenDSS goes through this class so the rest of
the twin works on numpy arrays in the engine's node order.

Each engine also has its own output folder: whatever a user's model writes
(regulator debug traces, exports, reports) goes there, never next to the model,
where two engines (threads or worker processes) would open the same file.
OpenDSS's `compile` moves its data path to the model's folder, so the model is
read with `redirect`, which keeps it.
"""

from __future__ import annotations

import shutil
import tempfile
import weakref
from pathlib import Path

import numpy as np
import opendssdirect as odd

from flexbench.twin.errors import FeederError
from flexbench.twin.feeders import FeederSource

# Solver settings: the 8500-node feeder needs more than the default 15 iterations,
# and a tight tolerance keeps full power flows comparable with sensitivities.
SOLVER_SETTINGS = "set maxiterations=200 maxcontroliter=100 tolerance=1e-7"


class Engine:
    """A private OpenDSS context holding one compiled feeder."""

    def __init__(self) -> None:
        self.dss = odd.NewContext()
        # Never chdir the process: two twins (or the caller) may rely on the cwd.
        self.dss.Basic.AllowChangeDir(False)
        # `show` commands in a model write a report; never open an editor on it
        self.dss.Basic.AllowEditor(False)
        self.output_dir = Path(tempfile.mkdtemp(prefix="flexbench-dss-"))
        self._cleanup = weakref.finalize(self, shutil.rmtree, self.output_dir, True)
        self.dss.Basic.DataPath(str(self.output_dir))
        self.source: FeederSource | None = None
        # last kW written per load number: unchanged loads are not written again
        self._load_kw: np.ndarray = np.zeros(0)

    # -- commands -------------------------------------------------------------
    def command(self, text: str) -> str:
        """Run one OpenDSS command; OpenDSS errors become FeederError with the command."""
        self._load_kw = np.zeros(0)  # a command may edit loads
        try:
            return self.dss.Text.Command(text) or ""
        except odd.DSSException as exc:
            raise FeederError(f"OpenDSS rejected {text!r}: {_message(exc)}") from None

    def compile(self, source: FeederSource) -> None:
        """Compile a master file, run its setup commands and load bus coordinates."""
        self.source = source
        master = Path(source.master)
        if not master.is_file():
            raise FeederError(f"feeder file not found: {master}")
        try:
            # redirect, not compile: compile would move the output folder to the model's
            self.dss.Text.Command(f'redirect "{master}"')
        except odd.DSSException as exc:
            raise FeederError(f"{master}: does not compile: {_message(exc)}") from None
        finally:
            # a `set datapath` or nested compile in the model must not move it either
            self.dss.Basic.DataPath(str(self.output_dir))
        if not self.dss.Circuit.Name():
            raise FeederError(f"{master}: defines no circuit (missing 'New Circuit.<name>')")
        for cmd in source.setup_commands:
            self.command(cmd)
        self.command(SOLVER_SETTINGS)
        if source.bus_coords is not None and Path(source.bus_coords).is_file():
            self.command(f'buscoords "{source.bus_coords}"')

    # -- solving --------------------------------------------------------------
    def solve(self, controls: bool = True) -> bool:
        """Solve the snapshot power flow; return False when it does not converge.

        With controls=False regulator taps and capacitor states stay where they
        are: the envelope of one interval is evaluated at the operating point
        that the forecast settled.
        """
        sol = self.dss.Solution
        try:
            if controls:
                sol.Solve()
            else:
                sol.SolveNoControl()
        except odd.DSSException:
            return False
        return bool(sol.Converged())

    def solve_or_raise(self, what: str, controls: bool = True) -> None:
        """Solve (with controls by default); raise FeederError naming the feeder when it fails."""
        if not self.solve(controls=controls):
            name = self.source.master if self.source else "feeder"
            raise FeederError(f"{name}: {self.failure(what)}")

    def failure(self, what: str) -> str:
        """Why the last solution failed, naming where: controls that never settled, or
        the lowest node of a power flow that diverged and what is connected there."""
        sol = self.dss.Solution
        if sol.ControlIterations() >= sol.MaxControlIterations():
            moving = self._controls()
            named = f" ({', '.join(moving[:5])}{', ...' if len(moving) > 5 else ''})" if moving else ""
            return f"controls did not settle {what} after {sol.ControlIterations()} control iterations{named}"
        text = f"power flow did not converge {what} after {sol.Iterations()} iterations"
        pu = np.asarray(self.dss.Circuit.AllBusMagPu(), dtype=float)
        names = self.dss.Circuit.AllNodeNames()
        pu = np.where(np.isfinite(pu) & (pu > 0), pu, np.inf)
        if len(pu) and np.isfinite(pu.min()):
            k = int(np.argmin(pu))
            node = names[k].lower()
            at = self._elements_at(node.split(".")[0])
            named = f" ({', '.join(at[:3])}{', ...' if len(at) > 3 else ''})" if at else ""
            text += f"; lowest voltage {pu[k]:.3f} pu at node {node}{named}"
        return text

    def _controls(self) -> list[str]:
        """Regulator and capacitor controls of the model."""
        out = []
        for kind, coll in (("RegControl", self.dss.RegControls), ("CapControl", self.dss.CapControls)):
            i = coll.First()
            while i:
                out.append(f"{kind}.{coll.Name()}")
                i = coll.Next()
        return out

    def _elements_at(self, bus: str) -> list[str]:
        """Loads and generators connected at a bus, largest first (what a divergence points at)."""
        found: list[tuple[float, str]] = []
        for kind, coll in (("Load", self.dss.Loads), ("Generator", self.dss.Generators)):
            i = coll.First()
            while i:
                if self.dss.CktElement.BusNames()[0].split(".")[0].lower() == bus:
                    found.append((abs(float(coll.kW())), f"{kind}.{coll.Name()}"))
                i = coll.Next()
        return [name for _, name in sorted(found, reverse=True)]

    # -- state ------------------------------------------------------------------
    def forked(self) -> None:
        """In a forked process: the output folder is the parent's, so this copy never removes it."""
        self._cleanup.detach()

    def node_names(self) -> list[str]:
        """Node names ('bus.phase', lower case) in the engine's Y-matrix order."""
        return [n.lower() for n in self.dss.Circuit.YNodeOrder()]

    def node_voltages(self) -> np.ndarray:
        """Complex node voltages (V) in Y-matrix order."""
        raw = np.asarray(self.dss.Circuit.YNodeVArray(), dtype=float)
        return raw[0::2] + 1j * raw[1::2]

    def pd_currents(self) -> np.ndarray:
        """Complex currents (A) of every PD element, terminal by terminal, flattened."""
        raw = np.asarray(self.dss.PDElements.AllCurrents(), dtype=float)
        return raw[0::2] + 1j * raw[1::2]

    def set_load_kw(self, index: int, kw: float) -> None:
        """Set the active power of load number index (1-based, engine order)."""
        self.set_loads_kw(np.array([index]), np.array([kw]))

    def set_loads_kw(self, indices: np.ndarray, kw: np.ndarray) -> None:
        """Set many loads at once (1-based indices); loads already at that value are skipped."""
        indices = np.asarray(indices, dtype=int)
        kw = np.asarray(kw, dtype=float)
        if len(self._load_kw) <= (indices.max() if len(indices) else 0):
            grown = np.full(int(self.dss.Loads.Count()) + 1, np.nan)
            grown[: len(self._load_kw)] = self._load_kw
            self._load_kw = grown
        change = ~(self._load_kw[indices] == kw)
        loads = self.dss.Loads
        # the engine's own setters, without the wrapper's error check per call (thousands of
        # loads per power flow on a large feeder): one check after the loop (opendssdirect.py
        # is pinned, and with it these attributes)
        set_idx, set_kw = loads._lib.Loads_Set_idx, loads._lib.Loads_Set_kW
        for i, v in zip(indices[change].tolist(), kw[change].tolist()):
            set_idx(i)
            set_kw(v)
        loads._check_for_error()
        self._load_kw[indices[change]] = kw[change]

    def forget_load_values(self) -> None:
        """After loads were edited by other means: write every value next time."""
        self._load_kw = np.zeros(0)

    def control_state(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """Regulator tap numbers and capacitor step states: what changes the Y matrix."""
        taps: list[int] = []
        regs = self.dss.RegControls
        i = regs.First()
        while i:
            taps.append(int(regs.TapNumber()))
            i = regs.Next()
        steps: list[int] = []
        caps = self.dss.Capacitors
        i = caps.First()
        while i:
            steps.extend(int(s) for s in caps.States())
            i = caps.Next()
        return tuple(taps), tuple(steps)

    def set_source_pu(self, pu: float) -> None:
        """Set the per-unit voltage of every voltage source (measured head voltage)."""
        vs = self.dss.Vsources
        i = vs.First()
        while i:
            vs.PU(pu)
            i = vs.Next()


def _message(exc: Exception) -> str:
    """The text of an OpenDSS error without its numeric code tuple."""
    args = exc.args
    if len(args) >= 2 and isinstance(args[1], str):
        return args[1].replace("\n", " ")
    return str(exc).replace("\n", " ")
