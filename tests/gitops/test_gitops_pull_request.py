"""pull-request.yaml: the plan comment (one, marked, updated in place; issue 9 defect 5) run in
Node.js the way actions/github-script runs it, and the preview's safety checks run by bash."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from relayctl.plan import COMMENT_MARKER
from tests.gitops.github_files import WORKFLOWS, find_step, jobs, run_step

WORKFLOW = WORKFLOWS / "pull-request.yaml"

# github-script wraps `script` in an async function of (github, context, ..., require); this
# harness does the same with a stand-in for the GitHub API that records every call.
HARNESS = r"""
const fs = require('fs');
const [statePath, scriptPath] = process.argv.slice(2);
const state = JSON.parse(fs.readFileSync(statePath, 'utf8'));
const calls = [];
const issues = {
  listComments() {},
  async updateComment(p) {
    calls.push({ op: 'update', id: p.comment_id, issue: p.issue_number });
    const comment = state.comments.find((c) => c.id === p.comment_id);
    comment.body = p.body;
  },
  async createComment(p) {
    calls.push({ op: 'create', issue: p.issue_number });
    state.comments.push({ id: 100 + state.comments.length, user: { type: 'Bot' }, body: p.body });
  },
};
const github = {
  rest: { issues },
  async paginate(method, params) {
    if (method !== issues.listComments || params.issue_number !== 7) throw new Error('unexpected');
    return state.comments;
  },
};
const context = { repo: { owner: 'acme', repo: 'relay' }, issue: { number: 7 } };
const AsyncFunction = Object.getPrototypeOf(async function () {}).constructor;
new AsyncFunction('github', 'context', 'require', fs.readFileSync(scriptPath, 'utf8'))(
  github, context, require,
).then(() => {
  fs.writeFileSync(statePath, JSON.stringify(state));
  console.log(JSON.stringify(calls));
});
"""


def routes_steps() -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = next(j for j in jobs(WORKFLOW) if j.job_id == "routes").spec[
        "steps"
    ]
    return steps


def comment_step() -> dict[str, Any]:
    return next(s for s in routes_steps() if "github-script" in s.get("uses", ""))


class PullRequest:
    """A pull request's comments, and the workflow's comment step run against them."""

    def __init__(self, folder: Path, comments: list[dict[str, Any]] | None = None) -> None:
        node = shutil.which("node")
        if node is None:
            pytest.skip("Node.js is not installed (.ci/run installs Debian's nodejs package)")
        self.node = node
        self.folder = folder
        self.state = folder / "state.json"
        self.state.write_text(json.dumps({"comments": comments or []}))
        (folder / "harness.js").write_text(HARNESS)
        (folder / "script.js").write_text(comment_step()["with"]["script"])

    def push(self, plan_markdown: str) -> list[dict[str, Any]]:
        (self.folder / "plan.md").write_text(plan_markdown)
        result = subprocess.run(
            [self.node, "harness.js", "state.json", "script.js"],
            cwd=self.folder,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        calls: list[dict[str, Any]] = json.loads(result.stdout)
        return calls

    @property
    def comments(self) -> list[dict[str, Any]]:
        comments: list[dict[str, Any]] = json.loads(self.state.read_text())["comments"]
        return comments


VALID = f"{COMMENT_MARKER}\n### Jam → Intercom routes\n\n- added `billing-handoff`\n"
INVALID = (
    f"{COMMENT_MARKER}\n### workflows.yaml has 1 problem\n\n"
    "- `workflows.yaml:4:5` workflow 'billing': unknown key 'stack'. Fix: write 'stacks'\n"
)


def test_the_marker_is_the_one_relayctl_plan_prints():
    assert f"const marker = '{COMMENT_MARKER}';" in comment_step()["with"]["script"]


def test_first_push_creates_one_marked_comment(tmp_path):
    pr = PullRequest(tmp_path)
    assert pr.push(VALID) == [{"op": "create", "issue": 7}]
    assert [c["body"] for c in pr.comments] == [VALID]


def test_every_later_push_updates_that_comment_in_place(tmp_path):
    pr = PullRequest(tmp_path)
    pr.push(VALID)
    calls = pr.push(INVALID) + pr.push(VALID + "- removed `old`\n")
    assert [c["op"] for c in calls] == ["update", "update"]
    assert len(pr.comments) == 1
    assert pr.comments[0]["body"].endswith("- removed `old`\n")


def test_the_problem_list_is_posted_as_written(tmp_path):
    pr = PullRequest(tmp_path)
    pr.push(INVALID)
    assert pr.comments[0]["body"] == INVALID


def test_a_persons_comment_quoting_the_marker_is_left_alone(tmp_path):
    quoted = {"id": 1, "user": {"type": "User"}, "body": f"why is {COMMENT_MARKER} here?"}
    pr = PullRequest(tmp_path, [quoted])
    assert pr.push(VALID) == [{"op": "create", "issue": 7}]
    assert pr.comments[0] == quoted


def test_output_without_the_marker_is_replaced_by_a_marked_notice(tmp_path):
    # relayctl always prints the marker first; without it the command crashed before any
    # output, and raw text (a traceback, ::error lines) is not posted.
    pr = PullRequest(tmp_path)
    pr.push("Traceback (most recent call last):\n::error::boom\n")
    body = pr.comments[0]["body"]
    assert body.startswith(COMMENT_MARKER)
    assert "Traceback" not in body
    assert "::error" not in body


def test_a_plan_over_githubs_comment_limit_is_cut_with_a_note(tmp_path):
    pr = PullRequest(tmp_path)
    pr.push(COMMENT_MARKER + "\n" + "- added `w`\n" * 8000)
    body = pr.comments[0]["body"]
    assert len(body) <= 65536
    assert body.rstrip().endswith("the whole plan is in the job summary.")


def test_plan_step_fails_the_job_when_the_plan_fails():
    step = find_step(routes_steps(), "Plan the route changes")
    assert "set -o pipefail" in step["run"]
    assert "--format markdown | tee plan.md" in step["run"]
    assert comment_step()["if"].startswith("${{ !cancelled() && hashFiles('plan.md') != ''")


def test_plan_step_exit_status_survives_the_pipe(tmp_path):
    # `relayctl plan` exits 1 for an invalid file; through `| tee` the step must still fail.
    step = find_step(routes_steps(), "Plan the route changes")
    fake = tmp_path / ".venv" / "bin"
    fake.mkdir(parents=True)
    (fake / "relayctl").write_text(
        f"#!/bin/sh\necho '{COMMENT_MARKER}'\necho '- problem'\nexit 1\n"
    )
    (fake / "relayctl").chmod(0o755)
    result = run_step(step["run"], tmp_path, {"BASE_REF": "origin/main"}, tmp_path)
    assert result.returncode == 1
    assert (tmp_path / "plan.md").read_text() == f"{COMMENT_MARKER}\n- problem\n"


# --- the preview's safety checks ------------------------------------------------------------


def preview_settings() -> str:
    job = next(j for j in jobs(WORKFLOW) if j.job_id == "preview")
    script: str = find_step(job.spec["steps"], "settings")["run"]
    return script


PROVIDER = "projects/1/locations/global/workloadIdentityPools/p/providers/g"
SET_UP = {
    "REPOSITORY": "acme/relay",
    "HEAD_REPOSITORY": "acme/relay",
    "GCP_WORKLOAD_IDENTITY_PROVIDER": PROVIDER,
    "GCP_PREVIEW_SERVICE_ACCOUNT": "relay-preview@acme-ci.iam.gserviceaccount.com",
}


def test_preview_runs_for_a_set_up_repository(tmp_path):
    result = run_step(preview_settings(), tmp_path, SET_UP, tmp_path)
    assert result.returncode == 0
    assert result.outputs == {"run": "true"}


def test_forks_get_no_credentials_and_a_notice(tmp_path):
    result = run_step(
        preview_settings(), tmp_path, SET_UP | {"HEAD_REPOSITORY": "eve/relay"}, tmp_path
    )
    assert result.returncode == 0
    assert result.outputs == {"run": "false"}
    assert "::notice title=pulumi preview skipped::Pull requests from forks" in result.stdout


def test_not_set_up_is_a_notice_not_a_failure(tmp_path):
    env = SET_UP | {"GCP_WORKLOAD_IDENTITY_PROVIDER": "", "GCP_PREVIEW_SERVICE_ACCOUNT": ""}
    result = run_step(preview_settings(), tmp_path, env, tmp_path)
    assert result.returncode == 0
    assert result.outputs == {"run": "false"}
    assert "GCP_WORKLOAD_IDENTITY_PROVIDER is not set" in result.stdout


def test_set_up_without_the_previewer_fails_naming_it(tmp_path):
    env = SET_UP | {"GCP_PREVIEW_SERVICE_ACCOUNT": ""}
    result = run_step(preview_settings(), tmp_path, env, tmp_path)
    assert result.returncode == 1
    assert "::error title=GCP_PREVIEW_SERVICE_ACCOUNT missing::" in result.stdout


def test_pulumi_cloud_oidc_preview_needs_a_token_limited_to_dev(tmp_path):
    env = SET_UP | {"PULUMI_ORGANIZATION": "acme"}
    result = run_step(preview_settings(), tmp_path, env, tmp_path)
    assert result.returncode == 1
    assert "PULUMI_PREVIEW_SCOPE" in result.stdout
    env |= {"PULUMI_PREVIEW_SCOPE": "team:relay-previewers"}
    assert run_step(preview_settings(), tmp_path, env, tmp_path).returncode == 0


def test_preview_skips_a_dev_stack_without_secrets(tmp_path):
    job = next(j for j in jobs(WORKFLOW) if j.job_id == "preview")
    script = find_step(job.spec["steps"], "stack")["run"]
    (tmp_path / "Pulumi.dev.yaml").write_text("config:\n  gcp:project: p\n")
    result = run_step(script, tmp_path, {"STACK": "dev"}, tmp_path)
    assert result.returncode == 0
    assert result.outputs == {"ready": "false"}
    assert "Pulumi.dev.yaml holds no secrets yet" in result.stdout


# --- pull requests Dependabot opens ---------------------------------------------------------
# GitHub, "Troubleshooting Dependabot on GitHub Actions": runs Dependabot triggers (push,
# pull_request, ...) are treated as if opened from a fork, with a read-only GITHUB_TOKEN and no
# Actions secrets; the OIDC token is not issued either (google-github-actions/auth #51:
# "Unable to get ACTIONS_ID_TOKEN_REQUEST_URL" on Dependabot's pull requests only).


def test_dependabots_pull_requests_skip_the_preview_with_a_notice(tmp_path):
    result = run_step(preview_settings(), tmp_path, SET_UP | {"ACTOR": "dependabot[bot]"}, tmp_path)
    assert result.returncode == 0
    assert result.outputs == {"run": "false"}
    assert "::notice title=pulumi preview skipped::Runs Dependabot triggers" in result.stdout


def test_a_maintainers_push_to_dependabots_branch_runs_the_preview(tmp_path):
    result = run_step(preview_settings(), tmp_path, SET_UP | {"ACTOR": "octocat"}, tmp_path)
    assert result.outputs == {"run": "true"}


def test_the_actor_reaches_the_safety_check_through_env():
    job = next(j for j in jobs(WORKFLOW) if j.job_id == "preview")
    assert find_step(job.spec["steps"], "settings")["env"]["ACTOR"] == "${{ github.actor }}"


def test_the_plan_comment_is_not_attempted_on_dependabots_read_only_token():
    assert comment_step()["if"].endswith("&& github.actor != 'dependabot[bot]' }}")
