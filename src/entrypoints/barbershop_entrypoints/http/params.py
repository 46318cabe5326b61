"""Path parameters shared by several controllers."""

from __future__ import annotations

from typing import Annotated, Final

from litestar.params import Parameter

MAX_ID: Final = 2**31 - 1
"""Ids are database integers: a larger number cannot name anything, so it is refused up front."""
MAX_PHONE_INPUT: Final = 32
"""The longest phone accepted as typed (spaces, dashes, brackets), in a body, a query or a page's form."""

ClientId = Annotated[int, Parameter(ge=1, le=MAX_ID, description="Id клиента")]
NotificationId = Annotated[int, Parameter(ge=1, le=MAX_ID, description="Id уведомления")]
