"""Whether a trial's bundle of resources can be placed: on a node alive now, or on one the
cluster's autoscaler adds.

Ray 2.60 keeps no list of the node types an autoscaler may launch where a client can read it
(the GCS holds the autoscaler's reports, not its config; `~/ray_bootstrap_config.yaml` exists
only on heads made by `ray up`). So the driver asks the autoscaler itself: it requests one bundle
of the trial's shape (`ray.autoscaler.sdk.request_resources`, which both autoscalers honour) and
reads the autoscaler's answer in the GCS:
- v1 (`ray up`, `ray start --head --autoscaling-config`): the report it writes to the KV
  (`__autoscaling_status`) after each update (every AUTOSCALER_UPDATE_INTERVAL_S, 5 s by
  default) lists the request in `request_demand`; a node launching then (pending_launches,
  pending_nodes) is a yes; the request listed in NO_AFTER_REPORTS reports with nothing launching
  is a no (no node type fits it, or the cluster is at its max_workers).
- v2 (KubeRay; RAY_enable_autoscaler_v2=1): its state in GetClusterStatus: the bundle among
  `infeasible_cluster_resource_constraints` is a no; an instance requested or pending is a yes.
  Not run by the tests: v2's fake_multinode provider needs an example.yaml the wheel lacks.
The request is withdrawn after the answer (a node already launching comes up and takes the first
trial). Asked only on a joined cluster: a Ray this driver started has no autoscaler. When no
autoscaler answers within ASK_TIMEOUT_S (or none has state in the GCS after NO_AUTOSCALER_S),
the node types of `~/ray_bootstrap_config.yaml` decide; a head started without
`--autoscaling-config` got its no in 10 s (measured, 1-CPU head asked for 2).
"""
from __future__ import annotations

import json
import time
from pathlib import Path

AUTOSCALER_CONFIG = "~/ray_bootstrap_config.yaml"   # written on the head node by `ray up`
ASK_TIMEOUT_S = 30.0     # for an answer: the request seen, then two v1 updates at 5 s each
NO_AUTOSCALER_S = 10.0   # no autoscaler state in the GCS this long: none runs (v1 reports
                         # each update; a fresh head's first report comes ~7 s after start)
NO_AFTER_REPORTS = 2     # v1 reports that list the request with nothing launching: a no
POLL_S = 0.5             # between reads of the autoscaler's state
_answers: dict[tuple, bool] = {}   # bundle -> the autoscaler's answer, asked once per driver

Bundle = dict[str, float]   # e.g. {"CPU": 1.0, "GPU": 0.25}


def can_place(bundle: Bundle) -> bool:
    """True when an alive node holds `bundle`, or the autoscaler can add one that does."""
    bundle = {k: float(v) for k, v in bundle.items() if v > 0}
    if any(_holds(node["Resources"], bundle) for node in _alive()):
        return True
    answer = None if _own_ray() else _ask_autoscaler(bundle)
    if answer is None:   # no autoscaler answered: a `ray up` head's file, else nothing to add
        return any(_holds(t.get("resources", {}), bundle) for t in bootstrap_node_types()
                   if t.get("max_workers", 1) > 0)
    return answer


def largest_node(resource: str) -> float:
    """The most of `resource` one alive node offers, or one of the bootstrap file's types."""
    amounts = [n["Resources"].get(resource, 0.0) for n in _alive()]
    amounts += [t.get("resources", {}).get(resource, 0.0) for t in bootstrap_node_types()
                if t.get("max_workers", 1) > 0]
    return max(amounts, default=0.0)


def bootstrap_node_types() -> list[dict]:
    """Node types of a `ray up` cluster (its bootstrap config on the head node), else none."""
    path = Path(AUTOSCALER_CONFIG).expanduser()
    if not path.is_file():
        return []
    import yaml
    config = yaml.safe_load(path.read_text()) or {}
    return list((config.get("available_node_types") or {}).values())


def _alive() -> list[dict]:
    import ray
    return [n for n in ray.nodes() if n["Alive"]]


def _holds(resources: dict, bundle: Bundle) -> bool:
    return all(resources.get(name, 0.0) >= amount for name, amount in bundle.items())


def _own_ray() -> bool:
    """Whether this process started the Ray it is connected to (then no autoscaler runs)."""
    from ray._private import worker
    return worker._global_node is not None and worker._global_node.head


def _ask_autoscaler(bundle: Bundle) -> bool | None:
    """The autoscaler's answer for `bundle` (module docstring); None when none answered."""
    key = tuple(sorted(bundle.items()))
    if key not in _answers:
        from ray.autoscaler.sdk import request_resources
        from ray.autoscaler.v2.utils import is_autoscaler_v2
        read = _v2_answer if is_autoscaler_v2(fetch_from_server=True) else _v1_answer
        request_resources(bundles=[bundle])
        try:
            answer = _poll(read, bundle)
        finally:
            request_resources(bundles=[])
        if answer is None:
            return None
        _answers[key] = answer
    return _answers[key]


class _NoAutoscaler(Exception):
    """The GCS holds no state of an autoscaler (none runs, or it has not reported yet)."""


def _poll(read, bundle: Bundle) -> bool | None:
    start, seen = time.monotonic(), set()
    while time.monotonic() < start + ASK_TIMEOUT_S:
        try:
            answer = read(bundle, seen)
        except _NoAutoscaler:
            if time.monotonic() > start + NO_AUTOSCALER_S:
                return None
            answer = None
        if answer is not None:
            return answer
        if any(_holds(node["Resources"], bundle) for node in _alive()):
            return True   # a node came up between two reads
        time.sleep(POLL_S)
    return None


def _v1_answer(bundle: Bundle, seen: set) -> bool | None:
    """From the v1 report: yes / no once a report lists the request, else None (not yet)."""
    from ray._private.ray_constants import DEBUG_AUTOSCALING_STATUS
    from ray.experimental.internal_kv import _internal_kv_get
    raw = _internal_kv_get(DEBUG_AUTOSCALING_STATUS)
    if not raw:
        raise _NoAutoscaler
    status = json.loads(raw)
    demand = status.get("load_metrics_report", {}).get("request_demand") or []
    if not any(_same(shape, bundle) for shape, _count in demand):
        return None   # no report since the request
    report = status.get("autoscaler_report") or {}
    if report.get("pending_launches") or report.get("pending_nodes"):
        return True
    seen.add(status.get("time"))
    return False if len(seen) >= NO_AFTER_REPORTS else None


def _v2_answer(bundle: Bundle, seen: set) -> bool | None:
    """From the v2 autoscaler's state in the GCS (GetClusterStatus)."""
    from ray._private.worker import global_worker
    from ray.core.generated.autoscaler_pb2 import GetClusterStatusReply
    reply = GetClusterStatusReply()
    reply.ParseFromString(global_worker.gcs_client.get_cluster_status())
    state = reply.autoscaling_state
    if state.autoscaler_state_version == 0:
        raise _NoAutoscaler
    for constraint in state.infeasible_cluster_resource_constraints:
        if any(_same(dict(r.request.resources_bundle), bundle)
               for r in constraint.resource_requests):
            return False
    if state.pending_instance_requests or state.pending_instances:
        return True
    return None


def _same(shape: dict, bundle: Bundle) -> bool:
    return {k: float(v) for k, v in shape.items() if v} == bundle
