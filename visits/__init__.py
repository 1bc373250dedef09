"""Visits: the central record of the door (visitors, their visits, the rules of opening and
closing them, and the live events they publish). The phone flow (declarations) and the door
(kiosk) both build on it; it imports neither."""
