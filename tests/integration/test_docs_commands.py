"""Issue 25, observation 7: the deployment, upgrade and live-updates commands of the docs run.

Every `sh` block of docs/deployment.md's "Deploy" and "Upgrade" sections and of
docs/live-updates.md's "Deploying live updates" is executed in one bash, in the order a reader
follows them (deploy, live updates, upgrade), by the AWS CLI from PyPI (`make test` installs it
in .cache/awscli) against a moto server. A flag the CLI rejects or a step out of order fails;
so does a CloudFormation command that deploys named IAM resources without
CAPABILITY_NAMED_IAM (moto does not check that; this test does).

What is filled in, and why: the organization (moto starts empty: it is created first, as a
reader's exists); `make` runs the repository's Makefile (the commands run in a scratch
directory holding the repository's `iam/`, `dist/` and `config.yaml`, so the files they write
land there). Operations moto does not implement (`NOT_IN_MOTO`) must still get past the AWS
CLI's own parsing: the server's "not implemented" answer is accepted for them, nothing else.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.unit.test_iam import load_template

ROOT = Path(__file__).resolve().parents[2]
AWS = ROOT / ".cache" / "awscli" / "bin" / "aws"
SECTIONS = [
    ("docs/deployment.md", "## Deploy"),
    ("docs/live-updates.md", "## Deploying live updates"),
    ("docs/deployment.md", "## Upgrade"),
]
# AWS CLI operations moto's server does not implement.
NOT_IN_MOTO = {("cloudformation", "activate-organizations-access")}
IAM_TYPES = {"AWS::IAM::Role", "AWS::IAM::User", "AWS::IAM::Group", "AWS::IAM::ManagedPolicy"}
NAMED = {"RoleName", "UserName", "GroupName", "ManagedPolicyName"}


def blocks(path: str, heading: str) -> list[str]:
    """The ```sh blocks of one section (up to the next heading of the same level)."""
    text = (ROOT / path).read_text()
    start = text.index(heading + "\n")
    level = heading.split(" ")[0]
    nxt = re.search(rf"^{level} ", text[start + len(heading) :], re.MULTILINE)
    section = text[start : start + len(heading) + (nxt.start() if nxt else len(text))]
    return re.findall(r"```sh\n(.*?)```", section, re.DOTALL)


def commands(script: str) -> list[list[str]]:
    """Each command line (continuations joined), split as the shell would, for inspection."""
    joined = re.sub(r"\\\n\s*", " ", script)
    out = []
    for line in joined.splitlines():
        line = line.split(" #", 1)[0].strip()
        if line.startswith(("aws ", "OP=$(aws ", "BUS=$(aws ", "TOPIC=$(aws ")) or " aws " in line:
            try:
                out.append(shlex.split(line[line.index("aws ") :].rstrip(")")))
            except ValueError:
                continue
    return out


def template_of(argv: list[str]) -> Path | None:
    for flag in ("--template-file", "--template-body"):
        if flag in argv:
            value = argv[argv.index(flag) + 1].removeprefix("file://")
            return ROOT / value
    return None


def capability_problems(argv: list[str]) -> list[str]:
    """A CloudFormation command that deploys IAM resources must acknowledge them."""
    if argv[:2] != ["aws", "cloudformation"] or len(argv) < 3:
        return []
    template = template_of(argv)
    if template is None:
        return []
    tpl = load_template(template)
    iam = [r for r in tpl["Resources"].values() if r["Type"] in IAM_TYPES]
    caps = set(argv[argv.index("--capabilities") + 1 :]) if "--capabilities" in argv else set()
    if any(NAMED & set(r.get("Properties", {})) for r in iam):
        if "CAPABILITY_NAMED_IAM" not in caps:
            return [f"{' '.join(argv[:3])} {template.name}: named IAM without CAPABILITY_NAMED_IAM"]
    elif iam and not caps & {"CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"}:
        return [f"{' '.join(argv[:3])} {template.name}: IAM without CAPABILITY_IAM"]
    return []


# Where moto differs from AWS, the shell's `aws` makes it behave as AWS does:
# - an operation moto does not implement must still get past the CLI's own parsing: moto's
#   "not implemented" (HTTP 500) is the only failure let through;
# - moto deploys a service-managed StackSet's instances to the management account too, which
#   AWS never does (the reason the docs deploy there by hand): they are removed again.
AWS_SHIM = r"""
aws() {
  case "$1 $2" in
    NOT_IN_MOTO_CASES)
      local out
      out=$(command aws "$@" 2>&1) || echo "$out" | grep -q "500 Internal Server Error" \
        || { echo "$out" >&2; return 1; } ;;
    "cloudformation create-stack-instances")
      local out
      out=$(command aws "$@") || return 1
      echo "$out"
      local name="" regions=() arg collecting=""
      for arg in "$@"; do
        case "$arg" in
          --stack-set-name) collecting=name ;;
          --regions) collecting=regions ;;
          --*) collecting="" ;;
          *) case "$collecting" in
               name) name=$arg; collecting="" ;;
               regions) regions+=("$arg") ;;
             esac ;;
        esac
      done
      local mgmt
      mgmt=$(command aws organizations describe-organization \
        --query Organization.MasterAccountId --output text)
      command aws cloudformation delete-stack-instances --stack-set-name "$name" \
        --accounts "$mgmt" --regions "${regions[@]}" --no-retain-stacks > /dev/null ;;
    *) command aws "$@" ;;
  esac
}
""".replace("NOT_IN_MOTO_CASES", "|".join(f'"{a} {b}"' for a, b in sorted(NOT_IN_MOTO)))


def the_script() -> str:
    return "\n".join(b for path, heading in SECTIONS for b in blocks(path, heading))


def test_the_documented_commands_acknowledge_iam_and_avoid_cli_v2_only_flags() -> None:
    script = the_script()
    argvs = commands(script)
    assert any(a[:3] == ["aws", "cloudformation", "create-stack-set"] for a in argvs)
    problems = [p for a in argvs for p in capability_problems(a)]
    assert problems == []
    # AWS CLI v1 (PyPI) rejects the v2-only flag; a file payload works in both.
    for doc in ("docs/deployment.md", "docs/live-updates.md", "README.md"):
        assert "--cli-binary-format" not in (ROOT / doc).read_text(), doc
    # The check itself sees a missing capability.
    bad = "aws cloudformation deploy --stack-name x --template-file iam/member-role.yaml"
    assert capability_problems(shlex.split(bad))


def moto_as_cloudformation(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto differs from CloudFormation on stack updates: it "modifies" resources whose Condition
    is false (failing on their references to resources never created), and forgets a resource
    whose type it cannot update (a later GetAtt of it fails). CloudFormation never touches the
    first and keeps the second; the server (in this process) is made to do the same."""
    from moto.cloudformation import parsing

    original = parsing.parse_and_update_resource

    def update(
        logical_id: str, resource_json: dict[str, Any], resources_map: Any, **kw: Any
    ) -> Any:
        condition = resource_json.get("Condition")
        if condition and not resources_map.lazy_condition_map[condition]:
            return resources_map._parsed_resources.get(logical_id)
        updated = original(logical_id, resource_json, resources_map, **kw)
        return updated if updated is not None else resources_map._parsed_resources.get(logical_id)

    monkeypatch.setattr(parsing, "parse_and_update_resource", update)

    # And it leaves a stack a change set created or updated without outputs (`deploy` uses
    # change sets): CloudFormation computes them.
    from moto.cloudformation.models import ChangeSet
    from moto.cloudformation.parsing import OutputMap

    apply = ChangeSet.apply

    def apply_with_outputs(self: Any) -> None:
        apply(self)
        # From the change set's template: a stack a change set creates has none of its own yet.
        self.stack.output_map = OutputMap(
            self.stack.resource_map, self.template_dict, self.stack.stack_id
        )

    monkeypatch.setattr(ChangeSet, "apply", apply_with_outputs)

    # An update with no change: CloudFormation creates the change set and fails it ("didn't
    # contain changes", which `deploy --no-fail-on-empty-changeset` accepts); moto's server
    # refuses the request instead (its model does it right).
    from moto.cloudformation.responses import CloudFormationResponse

    validate = CloudFormationResponse._validate_different_update

    def validate_unless_change_set(self: Any, *args: Any) -> None:
        if not self._get_param("ChangeSetName"):
            validate(self, *args)

    monkeypatch.setattr(
        CloudFormationResponse, "_validate_different_update", validate_unless_change_set
    )


@pytest.fixture
def world(moto_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    moto_as_cloudformation(monkeypatch)
    if not AWS.exists():
        pytest.fail(f"{AWS} missing: `make test` installs the AWS CLI there (make awscli)")
    config = urllib.request.Request(
        f"{moto_url}/moto-api/config",
        data=b'{"lambda": {"use_docker": false}}',
        method="POST",
    )
    urllib.request.urlopen(config)
    session = boto3.Session(region_name="us-east-1")
    orgs = session.client("organizations")
    orgs.create_organization(FeatureSet="ALL")
    for name in ("workload-a", "workload-b"):
        orgs.create_account(Email=f"{name}@example.com", AccountName=name)
    work = tmp_path / "work"
    work.mkdir()
    (work / "iam").symlink_to(ROOT / "iam")
    shutil.copy(ROOT / "config.yaml", work / "config.yaml")
    return {"session": session, "work": work, "url": moto_url}


@pytest.mark.slow
def test_the_documented_deployment_runs_against_moto(world: dict[str, Any]) -> None:
    script = the_script()
    work: Path = world["work"]
    bin_dirs = [str(AWS.parent), str(Path(os.sys.executable).parent)]
    prelude = "\n".join(
        [
            "set -euo pipefail",
            # `make` is the repository's Makefile (the commands run in a scratch directory).
            f'make() {{ command make -C {shlex.quote(str(ROOT))} --no-print-directory "$@"; }}',
            AWS_SHIM,
        ]
    )
    (work / "deploy.sh").write_text(prelude + "\n" + script)
    env = {
        **{k: v for k, v in os.environ.items() if k.startswith(("AWS_", "MOTO_"))},
        "PATH": os.pathsep.join([*bin_dirs, os.environ["PATH"]]),
        "HOME": str(work),
        "AWS_DEFAULT_REGION": "us-east-1",
        "LAMBDA_PYTHON": os.environ.get("LAMBDA_PYTHON", ""),
        # `make package` builds in the scratch directory, where the script looks for dist/.
        "BUILD": str(work / "build"),
        "DIST": str(work / "dist"),
        # `vpctracker` runs this checkout's code whatever the virtualenv was installed from.
        "PYTHONPATH": str(ROOT),
    }
    proc = subprocess.run(
        ["bash", str(work / "deploy.sh")],
        cwd=work,
        env={k: v for k, v in env.items() if v},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert proc.returncode == 0, (proc.stdout[-3000:], proc.stderr[-3000:])
    session = world["session"]
    cfn = session.client("cloudformation")
    stacks = {s["StackName"] for s in cfn.describe_stacks()["Stacks"]}
    assert {"vpctracker", "vpctracker-member", "vpctracker-member-events"} <= stacks
    # The management account's live updates: its rules in every region of $REGIONS.
    for region in ("us-east-1", "eu-west-1"):
        regional = session.client("cloudformation", region_name=region)
        assert regional.describe_stacks(StackName="vpctracker-member-events")["Stacks"]
    # The outputs the docs read reached the next steps (not an empty query's "None").
    member = cfn.describe_stacks(StackName="vpctracker-member")["Stacks"][0]["Parameters"]
    given = {p["ParameterKey"]: p["ParameterValue"] for p in member}
    assert given["HubRoleArn"].startswith("arn:aws:iam::"), given
    assert given["HubEventBusArn"].startswith("arn:aws:events:"), given
    sets = {s["StackSetName"] for s in cfn.list_stack_sets()["Summaries"]}
    assert sets == {"vpctracker-member", "vpctracker-member-events"}
    # One configuration: the parameter holds config.yaml, the function is pointed at it.
    value = session.client("ssm").get_parameter(Name="/vpctracker/config")["Parameter"]["Value"]
    assert value == (work / "config.yaml").read_text()
    fn = session.client("lambda").get_function_configuration(FunctionName="vpctracker-collector")
    assert fn["Runtime"] == "python3.13"
    assert fn["Environment"]["Variables"]["VPCTRACKER_CONFIG_PARAMETER"] == "/vpctracker/config"
    trails = session.client("cloudtrail").describe_trails()["trailList"]
    assert any(t["IsOrganizationTrail"] and t["IsMultiRegionTrail"] for t in trails)
