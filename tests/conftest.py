"""Hypothesis profiles: `ci` (the default) bounds examples so the whole suite stays under 15 minutes
and is deterministic (derandomized: every run draws the same examples, so a failure in CI reproduces
anywhere); `thorough` (HYPOTHESIS_PROFILE=thorough) explores more, with fresh random examples.

`pytest --compiled` runs every check_against_torch through fx2relax.compile (our fused, scheduled
kernels) instead of build, with the `compiled` profile's fewer examples: `make test` runs the op
property tests both ways.
"""

import os

from hypothesis import HealthCheck, settings

from tests import helpers

settings.register_profile(
    "ci",
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,
    print_blob=True,
)
settings.register_profile("thorough", parent=settings.get_profile("ci"), max_examples=300, derandomize=False)
settings.register_profile("compiled", parent=settings.get_profile("ci"), max_examples=10)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_addoption(parser):
    parser.addoption(
        "--compiled", action="store_true", help="compare fx2relax.compile (scheduled) instead of build with PyTorch"
    )


def pytest_configure(config):
    if config.getoption("--compiled"):
        helpers.COMPILE_ALL = True
        if "HYPOTHESIS_PROFILE" not in os.environ:
            settings.load_profile("compiled")


def pytest_terminal_summary(terminalreporter):
    """How many modules check_against_torch built, and how many builds it reused (tests/helpers.py)."""
    if helpers.BUILD_COUNTS["built"]:
        terminalreporter.write_line(
            f"check_against_torch: {helpers.BUILD_COUNTS['built']} builds, {helpers.BUILD_COUNTS['reused']} reused"
        )
