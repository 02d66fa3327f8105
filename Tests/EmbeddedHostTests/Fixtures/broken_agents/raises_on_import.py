from agents.base import Agent  # noqa: F401

raise RuntimeError("this agents module fails at import on purpose")
