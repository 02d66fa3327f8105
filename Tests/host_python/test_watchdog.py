"""The watchdog's signal handlers ask the host by the names of cagent_host.messages."""

from __future__ import annotations

import asyncio
import os
import signal
from typing import Any

from cagent_host import messages, watchdog


def test_the_signal_handlers_ask_the_host_by_message_name() -> None:
    asked: list[str] = []

    def ask(question: str) -> Any:
        asked.append(question)
        return None if question == messages.Ask.INTERRUPT.value else False

    loop = asyncio.new_event_loop()
    previous = (signal.getsignal(signal.SIGUSR1), signal.getsignal(signal.SIGUSR2))
    try:
        watchdog.install(loop, ask, signal.SIGUSR1, signal.SIGUSR2, lambda: None)
        # Not armed: each handler asks, gets "nothing to do", and returns.
        os.kill(os.getpid(), signal.SIGUSR2)
        os.kill(os.getpid(), signal.SIGUSR1)
    finally:
        signal.signal(signal.SIGUSR1, previous[0])
        signal.signal(signal.SIGUSR2, previous[1])
        loop.close()
    assert asked == [messages.Ask.ABORT.value, messages.Ask.INTERRUPT.value]
    assert set(asked) <= {question.value for question in messages.Ask}


def test_an_armed_abort_raises_into_what_blocks_the_loop() -> None:
    loop = asyncio.new_event_loop()
    previous = (signal.getsignal(signal.SIGUSR1), signal.getsignal(signal.SIGUSR2))
    try:
        watchdog.install(loop, lambda question: question == messages.Ask.ABORT.value, signal.SIGUSR1, signal.SIGUSR2, lambda: None)
        try:
            os.kill(os.getpid(), signal.SIGUSR2)
        except watchdog.LoopAborted:
            raised = True
        else:
            raised = False
    finally:
        signal.signal(signal.SIGUSR1, previous[0])
        signal.signal(signal.SIGUSR2, previous[1])
        loop.close()
    assert raised
