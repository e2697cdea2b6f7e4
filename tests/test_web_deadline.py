"""LazyDeadline on a fake clock: later deadlines leave the timer alone, earlier ones
move it, and expiry happens at the deadline, not at the timer's first firing."""

from __future__ import annotations

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from twisted_netlab.web.deadline import LazyDeadline


class LazyDeadlineTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.expired: list[float] = []
        self.deadline = LazyDeadline(
            self.clock.callLater, self.clock.seconds,
            lambda: self.expired.append(self.clock.seconds()),
        )

    def times(self) -> list[float]:
        return [call.getTime() for call in self.clock.getDelayedCalls()]

    def test_later_deadline_leaves_the_timer_and_expires_at_the_deadline(self) -> None:
        self.deadline.arm(0, 10)
        self.clock.advance(5)
        self.deadline.arm(5, 10)  # deadline 15
        self.assertEqual(self.times(), [10.0])
        self.clock.advance(5)  # t=10: fires early, waits for the rest
        self.assertEqual((self.expired, self.times()), ([], [15.0]))
        self.clock.advance(4.99)
        self.assertEqual(self.expired, [])
        self.clock.advance(0.01)
        self.assertEqual(self.expired, [15.0])
        self.assertFalse(self.deadline.pending)
        self.assertEqual(self.times(), [])

    def test_earlier_deadline_moves_the_timer(self) -> None:
        self.deadline.arm(0, 10)
        self.clock.advance(1)
        self.deadline.arm(1, 2)
        self.assertEqual(self.times(), [3.0])
        self.clock.advance(2)
        self.assertEqual(self.expired, [3.0])

    def test_one_long_advance_still_expires_at_the_moved_deadline(self) -> None:
        self.deadline.arm(0, 10)
        self.deadline.arm(4, 10)  # 14
        self.clock.advance(100)
        self.assertEqual(len(self.expired), 1)

    def test_cancel_and_arm_again(self) -> None:
        self.deadline.arm(0, 10)
        self.deadline.cancel()
        self.assertFalse(self.deadline.pending)
        self.clock.advance(20)
        self.assertEqual((self.expired, self.times()), ([], []))
        self.deadline.arm(20, 5)
        self.assertTrue(self.deadline.pending)
        self.clock.advance(5)
        self.assertEqual(self.expired, [25.0])
