"""``pump.BurstPump``: bursts per reactor turn, pause between steps, stop cancels."""

from __future__ import annotations

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from twisted_netlab.pump import BurstPump


class Counter(BurstPump):
    def __init__(self, clock: Clock, burst: int, total: int, pause_at: int = -1) -> None:
        super().__init__(clock, burst)
        self.total = total
        self.pause_at = pause_at
        self.done: list[int] = []

    def _step(self) -> bool:
        if len(self.done) == self.total:
            self._stopped = True
            return False
        self.done.append(len(self.done))
        if len(self.done) == self.pause_at:
            self.pauseProducing()
        return True


class BurstPumpTests(SynchronousTestCase):
    def test_one_burst_per_turn(self) -> None:
        clock = Clock()
        pump = Counter(clock, burst=3, total=7)
        pump._pump()
        self.assertEqual(len(pump.done), 3)
        self.assertEqual(len(clock.getDelayedCalls()), 1)
        # Clock.advance(0) also runs the turns scheduled while it runs.
        clock.advance(0)
        self.assertEqual(pump.done, list(range(7)))
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_pause_stops_between_steps_and_resume_goes_on(self) -> None:
        clock = Clock()
        pump = Counter(clock, burst=10, total=5, pause_at=2)
        pump._pump()
        self.assertEqual(len(pump.done), 2)
        self.assertEqual(clock.getDelayedCalls(), [])
        pump.resumeProducing()
        clock.advance(0)
        self.assertEqual(pump.done, list(range(5)))

    def test_stop_cancels_the_pending_turn(self) -> None:
        clock = Clock()
        pump = Counter(clock, burst=1, total=5)
        pump._pump()
        self.assertEqual(len(clock.getDelayedCalls()), 1)
        pump.stopProducing()
        self.assertEqual(clock.getDelayedCalls(), [])
        pump.resumeProducing()
        self.assertEqual(clock.getDelayedCalls(), [])
        self.assertEqual(pump.done, [0])
