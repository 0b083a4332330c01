"""Bookable event types and their bookings: an invitee picks a free slot and gets a call with
whichever of the event's hosts is free (models, slots, booking, cancel, reschedule)."""
