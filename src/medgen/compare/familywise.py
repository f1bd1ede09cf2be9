"""The level at which each of several claims reads its interval, so that together they hold.

A summary that reads K claims from intervals, each at 95%, says something false with a chance
of up to 1 - 0.95^K when nothing differs. Reading each at 1 - 0.05 / K (Bonferroni 1936; Dunn
1961) bounds the chance that any of them is false by 5%, whatever their dependence, as long as
each claim alone errs no more often than its intervals' level says. The summary's family-wise
rate is measured by simulation in tests/compare/test_claims_familywise.py.
"""

from __future__ import annotations

from dataclasses import dataclass

from scipy.stats import norm

from medgen.validate import in_range, whole

FAMILY_LEVEL = 0.95  # chance that every claim of one summary holds at once


@dataclass(frozen=True)
class ClaimLevel:
    """Bonferroni's level for each of `claims` claims that hold together at `family`."""

    claims: int = 1  # the claims one summary reads from intervals
    family: float = FAMILY_LEVEL

    def __post_init__(self) -> None:
        whole("claims", self.claims, 1)
        in_range("family", self.family, 0.0, 1.0, open_low=True, open_high=True)

    @property
    def each(self) -> float:
        """The confidence level of each claim's intervals: 1 - (1 - family) / claims."""
        return 1.0 - (1.0 - self.family) / self.claims

    @property
    def z(self) -> float:
        """The normal quantile of a two-sided interval at `each`."""
        return float(norm.ppf((1.0 + self.each) / 2.0))

    @property
    def interval(self) -> str:
        """ "95% interval" for one claim, "99% interval (95% over 5 claims, Bonferroni)" for
        several: how a sentence names the interval it reads."""
        each = f"{100 * self.each:.4g}% interval"
        if self.claims == 1:
            return each
        return f"{each} ({100 * self.family:.3g}% over {self.claims} claims, Bonferroni)"


ONE_CLAIM = ClaimLevel()  # a claim read alone, at FAMILY_LEVEL
