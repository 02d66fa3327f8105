"""An agent module that cannot be imported: a start error naming this file."""

from agents.base import Agent

raise ImportError("this agent module is broken on purpose")


class Never(Agent):
    id = "never"
