"""Rooms: where calls happen live (the rooms API, members, join tokens, the presence hub and
the live WebSocket). See docs/rooms.md."""
