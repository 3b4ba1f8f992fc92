"""A small error hierarchy. Front ends translate these into a one-line message and an exit code or 4xx.

Anything that is not an `AssistantError` is a bug and may surface as a traceback in logs, never to users.
"""

from __future__ import annotations


class AssistantError(Exception):
    """Base of every error a user can cause and fix; the message says what to do."""

    exit_code = 1


class ConfigError(AssistantError):
    """A setting has a value the assistant cannot use."""

    exit_code = 2


class InputError(AssistantError):
    """A question, file or request that cannot be used as given."""

    exit_code = 2


class DocumentError(InputError):
    """A document that is missing, empty, binary or not UTF-8, corrupt, encrypted, without a text
    layer, over a limit, or not the format its extension says."""


class ConflictError(InputError):
    """A change that another request is making at the same moment (two uploads of one name)."""


class BusyError(AssistantError):
    """A request past a limit the server keeps for everyone (students' documents held at once);
    the same request may succeed later."""


class UnusableIndexError(AssistantError):
    """An index that is missing, corrupt, or was built with another model or format."""

    exit_code = 3


class ModelError(AssistantError):
    """A language model that is missing, corrupt, unreachable or too slow."""

    exit_code = 4
