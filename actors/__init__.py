"""tickstage actors: the runtime driver, paths, supervision, and the actor tree.

Public surface (the underscore modules hold the machinery):
"""

from actors._dispatch import (
    ActorContext,
    ActorStatistics,
    ChildFailed,
    LastError,
    Start,
    TickstageActor,
)
from actors._envelope import (
    encode_actor_message,
    encode_error,
    encode_outbound,
    encode_server_message,
    new_server_message,
)
from actors._registry import DOWN_STATES, ActorState, Registry, RegistryEntry
from actors._runtime import THESPIAN_VERSION, ActorRuntime, RuntimeStatistics
from actors._supervisor import (
    ROOT_PATH,
    Backoff,
    ChildCommandAck,
    ChildSpec,
    ExitReason,
    Restart,
    RestartChild,
    RestartIntensity,
    RestartStrategy,
    StopChild,
    Supervisor,
    child_path,
    spawn,
    start_root,
)

__all__ = [
    "ActorContext",
    "ActorRuntime",
    "ActorState",
    "ActorStatistics",
    "Backoff",
    "ChildCommandAck",
    "ChildFailed",
    "ChildSpec",
    "DOWN_STATES",
    "ExitReason",
    "LastError",
    "ROOT_PATH",
    "Registry",
    "RegistryEntry",
    "Restart",
    "RestartChild",
    "RestartIntensity",
    "RestartStrategy",
    "RuntimeStatistics",
    "Start",
    "StopChild",
    "Supervisor",
    "THESPIAN_VERSION",
    "TickstageActor",
    "child_path",
    "encode_actor_message",
    "encode_outbound",
    "encode_error",
    "encode_server_message",
    "new_server_message",
    "spawn",
    "start_root",
]
