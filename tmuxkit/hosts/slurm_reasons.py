"""A pending Slurm job's reason code (scontrol's Reason=) in words (issue 28, item 2): what holds
it, and whether it can ever start. Codes from squeue(1)'s JOB REASON CODES."""

from __future__ import annotations

NEVER = "it can never start as asked: "
WORDS: dict[str, str] = {
    "Resources": "waiting for resources: the nodes, GPUs or memory it asks for are in use",
    "Priority": "other jobs come first (priority)",
    "Dependency": "waiting for the job it depends on",
    "DependencyNeverSatisfied": NEVER + "the job it depends on did not end as required",
    "BeginTime": "waiting for its start time",
    "JobHeldUser": "held by a user: it starts once released (scontrol release {job})",
    "JobHeldAdmin": "held by an administrator",
    "launch failed requeued held": "held after its launch failed: scontrol release {job} retries it",
    "PartitionTimeLimit": NEVER + "its time limit is over the partition's MaxTime",
    "PartitionNodeLimit": NEVER + "more nodes than the partition allows",
    "PartitionDown": "its partition is down",
    "PartitionInactive": "its partition is inactive",
    "ReqNodeNotAvail": "a node it needs is not available (down, drained or reserved)",
    "NodeDown": "a node it needs is down",
    "BadConstraints": NEVER + "no node has the features, CPUs or memory it asks for",
    "Reservation": "waiting for its reservation",
    "Licenses": "waiting for licenses",
    "Cleaning": "waiting for its previous attempt to be cleaned up",
    "InvalidAccount": NEVER + "its account is not valid",
    "InvalidQOS": NEVER + "its QOS is not valid",
    "QOSMaxWallDurationPerJobLimit": NEVER + "its time limit is over its QOS's limit",
}


def reason_text(code: str, job: str = "JOB") -> str:
    """CODE in words ("" for none); a code not known here is named as it is."""
    if not code or code == "None":
        return ""
    if code in WORDS:
        return WORDS[code].format(job=job or "JOB")
    if code.startswith(("AssocGrp", "AssocMax", "QOSGrp", "QOSMax")):
        return f"a limit of its account or QOS holds it ({code})"
    return code
