"""Typed ids so a ticket id is never passed where a user id belongs."""

from typing import NewType

TicketId = NewType("TicketId", int)
MessageId = NewType("MessageId", int)
UserId = NewType("UserId", int)
TeamId = NewType("TeamId", int)
CustomerId = NewType("CustomerId", int)
OrganizationId = NewType("OrganizationId", int)
AttachmentId = NewType("AttachmentId", int)
