"""The in-process service API the Swift host calls (no HTTP involved)."""

from __future__ import annotations

import asyncio

import pytest

from service import (
    AgentFailed,
    AgentService,
    ExecuteResult,
    InvalidLastEventId,
    InvalidRequest,
    RunEvent,
    RunTimeout,
    ShuttingDown,
    UnknownAgent,
    UnknownRun,
)
from service_support import fault_agents, make_app, wait_until


@pytest.fixture
def service() -> AgentService:
    return make_app().state.service


async def collect(service: AgentService, request_id: str, last_event_id: str | None = None) -> list[RunEvent]:
    return [event async for event in service.subscribe(request_id, last_event_id)]


async def test_execute_returns_the_result(service: AgentService) -> None:
    result = await service.execute("echo", {"hello": "world"})
    assert isinstance(result, ExecuteResult)
    assert result.result == {"hello": "world"}
    assert result.agent_id == "echo"
    assert result.execution_time >= 0
    assert service.task_count == 0


async def test_execute_passes_context(service: AgentService) -> None:
    result = await service.execute("steps", {"count": 1}, {"user": "u1"})
    assert result.result == {"count": 1, "context": {"user": "u1"}}


async def test_agents_lists_builtins_and_directory_agents(service: AgentService) -> None:
    ids = {agent.id for agent in service.agents}
    assert {"echo", "tools", "chat", "raises", "exits", "sleeps", "gated"} <= ids
    echo = next(agent for agent in service.agents if agent.id == "echo")
    assert echo.description and echo.input_schema["type"] == "object"


@pytest.mark.parametrize(
    ("agent_id", "message"),
    [("raises", "RuntimeError: boom"), ("exits", "sys.exit(3)"), ("bad_result", "TypeError"), ("emits_result", "ValueError")],
)
async def test_failing_agent_raises_agent_failed_and_service_stays_up(service: AgentService, agent_id: str, message: str) -> None:
    with pytest.raises(AgentFailed) as caught:
        await service.execute(agent_id, {})
    assert message in caught.value.message
    assert caught.value.status == 500 and caught.value.code == "agent_failed"
    assert caught.value.extra["request_id"]
    assert (await service.execute("echo", {"still": "up"})).result == {"still": "up"}


async def test_timeout(service: AgentService) -> None:
    with pytest.raises(RunTimeout) as caught:
        await service.execute("sleeps", {"seconds": 30}, timeout_s=0.05)
    assert caught.value.status == 504
    assert service.task_count == 0


async def test_unknown_agent_and_bad_arguments(service: AgentService) -> None:
    with pytest.raises(UnknownAgent) as caught:
        await service.execute("nope", {})
    assert caught.value.status == 404
    with pytest.raises(UnknownAgent):
        service.start_run("nope", {})
    with pytest.raises(InvalidRequest):
        service.start_run("echo", [])  # type: ignore[arg-type]
    with pytest.raises(InvalidRequest):
        service.start_run("echo", {}, timeout_s=0)
    assert service.task_count == 0 and service.run_count == 0


async def test_run_events_from_start_to_result(service: AgentService) -> None:
    request_id = service.start_run("steps", {"count": 2})
    events = await collect(service, request_id)
    assert [e.type for e in events] == ["thinking", "tool_call", "tool_result"] * 2 + ["result"]
    assert [e.id for e in events] == [str(n) for n in range(7)]
    assert events[-1].data["result"]["count"] == 2
    assert events[-1].data["agent_id"] == "steps"


async def test_subscribe_checks_at_once(service: AgentService) -> None:
    with pytest.raises(UnknownRun):
        service.subscribe("missing")
    request_id = service.start_run("steps", {"count": 1})
    with pytest.raises(InvalidLastEventId):
        service.subscribe(request_id, "99")
    with pytest.raises(InvalidLastEventId):
        service.subscribe(request_id, "x")
    await collect(service, request_id)


async def test_late_subscriber_and_resume(service: AgentService) -> None:
    request_id = service.start_run("steps", {"count": 2})
    await wait_until(lambda: service.task_count == 0)
    # Two readers at once, one from the start and one resuming after event 2.
    full = service.subscribe(request_id)
    resumed = service.subscribe(request_id, "2")
    assert len([e async for e in full]) == 7
    # Read to the end: new subscribers are refused, but one made before still reads.
    resumed = [e async for e in resumed]
    assert [e.id for e in resumed] == ["3", "4", "5", "6"]
    assert service.run_count == 0
    with pytest.raises(UnknownRun):
        service.subscribe(request_id)


async def test_live_subscribers_see_every_event(service: AgentService) -> None:
    request_id = service.start_run("gated", {"gate": "live"})
    subscription = service.subscribe(request_id)
    first = await subscription.get()
    assert first is not None and first.type == "thinking"
    assert service.subscriber_count == 1
    fault_agents().open_gate("live")
    rest = [event async for event in subscription]
    assert [e.type for e in rest] == ["result"]
    assert service.subscriber_count == 0 and service.task_count == 0 and service.run_count == 0


async def test_shutdown_right_after_start(service: AgentService) -> None:
    # The task has not taken its first step yet when it is cancelled.
    request_id = service.start_run("echo", {})
    await service.shutdown()
    events = await collect(service, request_id)
    assert [(e.type, e.data["code"]) for e in events] == [("error", "shutting_down")]
    assert service.task_count == 0


async def test_closing_a_subscription_releases_it_and_keeps_the_run(service: AgentService) -> None:
    request_id = service.start_run("gated", {"gate": "close"})
    subscription = service.subscribe(request_id)
    assert (await subscription.get()) is not None
    await subscription.aclose()
    assert service.subscriber_count == 0
    assert service.task_count == 1  # the run belongs to the service, not to its reader
    fault_agents().open_gate("close")
    events = await collect(service, request_id)
    assert [e.type for e in events] == ["thinking", "result"]


async def test_unread_subscription_holds_nothing(service: AgentService) -> None:
    request_id = service.start_run("echo", {})
    service.subscribe(request_id)
    assert service.subscriber_count == 0


async def test_cancelling_execute_cancels_its_run(service: AgentService) -> None:
    call = asyncio.ensure_future(service.execute("sleeps", {"seconds": 30}))
    await wait_until(lambda: service.task_count == 1)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    await wait_until(lambda: service.task_count == 0)


async def test_retention_drops_unread_runs() -> None:
    service: AgentService = make_app(run_retention_s=0.05).state.service
    service.start_run("echo", {})
    assert service.run_count == 1
    await wait_until(lambda: service.run_count == 0)


async def test_shutdown_ends_runs_in_flight(service: AgentService) -> None:
    ids = [service.start_run("gated", {"gate": f"s{n}"}) for n in range(3)]
    execute = asyncio.ensure_future(service.execute("sleeps", {"seconds": 30}))
    readers = [asyncio.ensure_future(collect(service, request_id)) for request_id in ids]
    await wait_until(lambda: service.subscriber_count == 3)
    await service.shutdown()
    for reader in readers:
        events = await reader
        assert events[-1].type == "error"
        assert events[-1].data["code"] == "shutting_down"
    with pytest.raises(ShuttingDown):
        await execute
    assert service.task_count == 0 and service.subscriber_count == 0
    assert service.closing
    with pytest.raises(ShuttingDown):
        service.start_run("echo", {})
    with pytest.raises(ShuttingDown) as caught:
        await service.execute("echo", {})
    assert caught.value.status == 503
    await service.shutdown()  # idempotent


async def test_shutdown_closes_the_toolsets() -> None:
    closed: list[bool] = []

    class Tools:
        open_sessions = 0

        async def aclose(self) -> None:
            closed.append(True)

    from main import create_app
    from service_support import make_settings

    service = create_app(make_settings(), toolsets=Tools()).state.service  # type: ignore[arg-type]
    await asyncio.gather(service.shutdown(), service.shutdown())
    assert closed == [True]


async def test_shutdown_does_not_hang_on_a_run_that_ignores_cancellation(service: AgentService) -> None:
    service.shutdown_grace_s = 0.05
    request_id = service.start_run("stubborn", {"gate": "stubborn"})
    execute = asyncio.ensure_future(service.execute("stubborn", {"gate": "stubborn"}))
    try:
        await wait_until(lambda: service.task_count == 2)
        subscription = service.subscribe(request_id)
        assert (await subscription.get()) is not None
        await service.shutdown()
        events = [event async for event in subscription]
        assert [(e.type, e.data["code"]) for e in events] == [("error", "shutting_down")]
        with pytest.raises(ShuttingDown):
            await execute
        # The stubborn tasks are still counted until they really end.
        assert service.task_count == 2
    finally:
        # Else the loop could not close: these tasks swallow its cancellation too.
        fault_agents().open_gate("stubborn")
    await wait_until(lambda: service.task_count == 0)



async def test_cancel_ends_a_started_run_with_a_cancelled_error(service: AgentService) -> None:
    request_id = service.start_run("sleeps", {"seconds": 60})
    await asyncio.sleep(0)  # one turn of the loop, no time: the run's task begins before it is cancelled
    assert service.cancel(request_id) is True
    events = await collect(service, request_id)
    assert events[-1].type == "error"
    assert events[-1].data["code"] == "cancelled"
    await wait_until(lambda: service.task_count == 0)
    finished = service.start_run("echo", {})
    await wait_until(lambda: service.task_count == 0)
    assert service.cancel(finished) is False  # ended, not yet read: nothing to cancel
    with pytest.raises(UnknownRun):
        service.cancel("no-such-run")
