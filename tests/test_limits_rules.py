# mypy: disallow-untyped-calls=False
"""The pure limit decisions and the limit options."""

from __future__ import annotations

from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase

from twisted_netlab.web.limits import (
    GIB,
    MIB,
    Admission,
    AdmissionDecision,
    BodyVerdict,
    ConnectionView,
    LimitsConfig,
    Phase,
    PrefixBodyRule,
    admit,
    default_max_connections,
    judge_body,
    split_target_path,
)
from twisted_netlab.web.options_limits import LimitsOptions, parse_size
from twisted_netlab.web.tap import Options as WebOptions


def view(key: int, phase: Phase, since: float, host: str = "10.0.0.1") -> ConnectionView:
    return ConnectionView(key, host, phase, since)


class AdmitTests(SynchronousTestCase):
    """``admit`` sees the counts and the oldest idle/head candidates the site keeps."""

    def test_under_the_cap(self) -> None:
        self.assertEqual(admit(1, cap=2, oldest=[view(1, Phase.IDLE, 0)]),
                         AdmissionDecision(Admission.ACCEPT))

    def test_oldest_idle_or_head_goes_first(self) -> None:
        oldest = [view(2, Phase.HEAD, 5), view(3, Phase.IDLE, 3)]
        self.assertEqual(admit(4, cap=4, oldest=oldest),
                         AdmissionDecision(Admission.EVICT, 3, "connection cap"))
        older_head = [view(3, Phase.IDLE, 3), view(2, Phase.HEAD, 1)]
        self.assertEqual(admit(4, cap=4, oldest=older_head).victim, 2)

    def test_idle_before_head_at_equal_age(self) -> None:
        oldest = [view(1, Phase.HEAD, 2), view(2, Phase.IDLE, 2)]
        self.assertEqual(admit(2, cap=2, oldest=oldest).victim, 2)

    def test_key_breaks_a_tie_in_one_phase(self) -> None:
        oldest = [view(7, Phase.IDLE, 2), view(4, Phase.IDLE, 2)]
        self.assertEqual(admit(2, cap=2, oldest=oldest).victim, 4)

    def test_all_working_refuses(self) -> None:
        refusal = AdmissionDecision(Admission.REFUSE, reason="server is at its connection limit")
        self.assertEqual(admit(3, cap=3), refusal)
        working = [view(1, Phase.BUSY, 0), view(2, Phase.BODY, 0), view(3, Phase.REFUSED, 0)]
        self.assertEqual(admit(3, cap=3, oldest=working), refusal)

    def test_per_address_cap_only_evicts_that_address(self) -> None:
        everyone = [view(1, Phase.IDLE, 0, "a")]
        own = [view(2, Phase.IDLE, 1, "b")]
        decision = admit(3, cap=100, oldest=everyone, own_count=2, own_oldest=own, per_ip_cap=2)
        self.assertEqual(decision, AdmissionDecision(Admission.EVICT, 2, "per-address cap"))
        # "b" has one busy connection: nothing of its own to close, so it is refused.
        self.assertEqual(admit(1, cap=100, own_count=1, per_ip_cap=1),
                         AdmissionDecision(Admission.REFUSE,
                                           reason="too many connections from your address"))
        # "a" has none: accepted.
        self.assertEqual(admit(1, cap=100, own_count=0, per_ip_cap=1).verdict,
                         Admission.ACCEPT)

    def test_per_address_cap_off_ignores_own_count(self) -> None:
        self.assertEqual(admit(1, cap=100, own_count=50).verdict, Admission.ACCEPT)


class BodyRuleTests(SynchronousTestCase):
    def test_judge(self) -> None:
        self.assertEqual(judge_body(b"POST", 0, 0), BodyVerdict.ACCEPT)
        self.assertEqual(judge_body(b"POST", 1, 0), BodyVerdict.NO_BODY_HERE)
        self.assertEqual(judge_body(b"POST", None, 0), BodyVerdict.NO_BODY_HERE)
        self.assertEqual(judge_body(b"GET", 1, 0), BodyVerdict.TOO_LARGE)
        self.assertEqual(judge_body(b"PUT", 11, 10), BodyVerdict.TOO_LARGE)
        self.assertEqual(judge_body(b"PUT", 10, 10), BodyVerdict.ACCEPT)
        self.assertEqual(judge_body(b"PUT", None, 10), BodyVerdict.ACCEPT)

    def test_prefix_rule_longest_wins(self) -> None:
        rule = PrefixBodyRule((((b"api",), 100), ((b"api", b"small"), 5)))
        self.assertEqual(rule.body_limit(b"POST", b"/api/x?y=1"), 100)
        self.assertEqual(rule.body_limit(b"POST", b"/api/small/x"), 5)
        self.assertEqual(rule.body_limit(b"POST", b"/apix"), 0)
        self.assertEqual(rule.body_limit(b"POST", b"/file.txt"), 0)
        self.assertFalse(rule.accepts_body(b"POST", b"/"))
        self.assertTrue(rule.accepts_body(b"POST", b"/api"))

    def test_split_target_path(self) -> None:
        self.assertEqual(split_target_path(b"//a/b/?q#f"), [b"a", b"b"])


class ConfigTests(SynchronousTestCase):
    def test_defaults(self) -> None:
        config = LimitsConfig()
        self.assertEqual((config.header_timeout, config.keepalive_timeout, config.body_timeout,
                          config.send_timeout, config.drain_timeout), (20, 75, 60, 60, 30))
        self.assertEqual((config.max_body, config.tools_max_body), (GIB, 10 * MIB))
        self.assertEqual(config.connection_cap, default_max_connections())

    def test_fd_derived_cap(self) -> None:
        self.assertEqual(default_max_connections(1024), 480)
        self.assertEqual(default_max_connections(65536), 32736)
        self.assertEqual(default_max_connections(50), 16)

    def test_invalid(self) -> None:
        self.assertRaises(ValueError, LimitsConfig, header_timeout=0)
        self.assertRaises(ValueError, LimitsConfig, max_body=0)
        self.assertRaises(ValueError, LimitsConfig, max_connections=-1)


class OptionsTests(SynchronousTestCase):
    def parse(self, *argv: str) -> LimitsConfig:
        options = WebOptions()
        options.parseOptions(list(argv))
        return options.web_config.limits

    def test_mixin_is_part_of_netlab_web(self) -> None:
        self.assertTrue(issubclass(WebOptions, LimitsOptions))
        self.assertEqual(self.parse(), LimitsConfig(max_connections=default_max_connections()))

    def test_values(self) -> None:
        config = self.parse("--header-timeout", "5", "--keepalive-timeout", "2.5",
                            "--max-connections", "300", "--max-connections-per-ip", "8",
                            "--max-body", "64k", "--tools-max-body", "2MiB",
                            "--body-timeout", "9", "--send-timeout", "7", "--drain-timeout", "3")
        self.assertEqual(config, LimitsConfig(
            header_timeout=5, keepalive_timeout=2.5, max_connections=300,
            max_connections_per_ip=8, max_body=64 << 10, tools_max_body=2 << 20,
            body_timeout=9, send_timeout=7, drain_timeout=3))

    def test_bad_values_are_usage_errors(self) -> None:
        for argv in (["--header-timeout", "0"], ["--header-timeout", "soon"],
                     ["--max-connections", "0"], ["--max-connections", "-3"],
                     ["--max-body", "lots"], ["--max-body", "0"],
                     ["--max-connections-per-ip", "x"]):
            with self.assertRaises(usage.UsageError, msg=argv):
                self.parse(*argv)

    def test_sizes(self) -> None:
        self.assertEqual(parse_size("x", "1g"), GIB)
        self.assertEqual(parse_size("x", "10 MiB"), 10 * MIB)
        self.assertEqual(parse_size("x", "4096"), 4096)

    def test_combined_plugin_takes_the_same_options(self) -> None:
        from twisted_netlab import tap as combined

        options = combined.Options()
        options.parseOptions(["--max-body", "2k", "--header-timeout", "3"])
        limits = options.web_config.limits
        self.assertEqual((limits.max_body, limits.header_timeout), (2048, 3.0))
