"""What `make mutate` mutates, and which tests may kill each module's mutants: the one place.

Each module maps to the test paths that exercise it, fastest and most direct first: pytest runs
them in this order with ``-x``, so a mutant is usually killed by the first file. Before mutating,
the harness measures which of these test files execute each line (coverage, subprocesses
included), and runs for each mutant only the files that reach its line.
"""

from __future__ import annotations

from typing import Final

_RELAY: Final = (
    "tests/relay",
    "tests/platform/test_cloud_run.py",
    "tests/test_log_filters.py",
)
_PROGRAM: Final = (
    "tests/pulumi",
    "tests/bootstrap",
    "tests/platform/test_cloud_run.py",
    "tests/platform/test_google_cloud_names.py",
)
_BOOTSTRAP: Final = ("tests/bootstrap", "tests/platform")

TESTS_BY_MODULE: Final[dict[str, tuple[str, ...]]] = {
    "relay_function/main.py": _RELAY,
    "relay_function/verification.py": _RELAY,
    "relay_function/events.py": _RELAY,
    "relay_function/forwarding.py": _RELAY,
    "relay_function/configuration.py": _RELAY,
    "relay_function/naming.py": (
        *_RELAY,
        "tests/test_workflows_loader.py",
        "tests/test_workflows_schema.py",
        "tests/pulumi",
    ),
    "relay_function/answers.py": _RELAY,
    "relay_function/serving.py": _RELAY,
    "infra/relay.py": _PROGRAM,
    "__main__.py": _PROGRAM,
    "infra/urls.py": (*_PROGRAM, "tests/cli/test_cli_endpoints.py"),
    "infra/credentials.py": ("tests/platform/test_google_credentials.py", *_PROGRAM),
    "infra/service_accounts.py": _PROGRAM,
    "infra/settings.py": (
        "tests/test_pulumi_project_files.py",
        "tests/platform/test_google_cloud_names.py",
        *_PROGRAM,
        "tests/test_workflows_loader.py",
    ),
    "infra/relay_env.py": (*_PROGRAM, "tests/relay"),
    "infra/alerting.py": ("tests/pulumi", "tests/test_log_filters.py"),
    "infra/secret_patterns.py": (
        "tests/test_secret_patterns.py",
        "tests/test_workflows_loader.py",
        "tests/test_workflows_schema.py",
        "tests/pulumi",
    ),
    "relayctl/check.py": ("tests/cli/test_cli_check.py", "tests/platform/test_cloud_run.py"),
    "bootstrap/access.py": _BOOTSTRAP,
    "bootstrap/github_deploy.py": _BOOTSTRAP,
}
