import asyncio
import gc
import logging
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI

from callgrid.api_keys import router as api_keys_router
from callgrid.removals import router as removals_router
from callgrid.appointments.endpoints import router as appointments_router
from callgrid.bookings.endpoints import router as event_types_router
from callgrid.bookings.pages import router as booking_pages_router
from callgrid.event_calls.endpoints import router as event_calls_router
from callgrid.kit.clock import Clock, system_clock
from callgrid.kit.query import refuse_unknown_query
from callgrid.config import Settings, get_settings
from callgrid.db.encrypted import load_keyring
from callgrid.db.maintenance import periodic_statistics
from callgrid.db.session import open_database
from callgrid.directory.endpoints import router as directory_router
from callgrid.errors import ErrorRenderers, install_error_handlers
from callgrid.idempotency import repository as idempotency_keys
from callgrid.kit.page_headers import PageHeaders
from callgrid.kit.stop_signals import first_on_stop
from callgrid.limits import RequestGuard
from callgrid import openapi
from callgrid.observability import metrics
from callgrid.observability.health import metrics_router
from callgrid.observability.health import router as health_router
from callgrid.observability.request_id import RequestContext
from callgrid.ratelimits.middleware import Limiter, RateLimits
from callgrid.rooms.endpoints import router as rooms_router
from callgrid.rooms.hub import make_hub
from callgrid.rooms.live import LiveRooms
from callgrid.rooms.page import router as room_page_router
from callgrid.rooms.recording.endpoints import router as recordings_router
from callgrid.rooms.recording.service import Recorders
from callgrid.rooms.recording.storage import LocalRecordingStorage
from callgrid.rooms.replay import pages as room_replay_pages
from callgrid.rooms.replay import router as room_replay_router
from callgrid.rooms.timeline_endpoints import router as room_timeline_router
from callgrid.rooms.tokens import load_signer
from callgrid.rooms.websocket import router as rooms_live_router
from callgrid.tenancy import revocations
from callgrid.tenancy.auth import KeyCache
from callgrid.tenancy.endpoints import router as tenancy_router
from callgrid.tenancy.usage import KeyUsage
from callgrid.video_calls.endpoints import PREFIX as VIDEO_CALLS_PREFIX
from callgrid.video_calls.endpoints import router as video_calls_router
from callgrid.video_calls.render import render_error as render_video_calls_error
from callgrid.webhooks.endpoints import router as webhooks_router
from callgrid.webhooks.worker import embedded_worker

log = logging.getLogger("callgrid.app")


def create_app(settings: Settings | None = None, *, clock: Clock = system_clock) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        # `callgrid serve --loop`: asyncio's own loop, or uvloop's (the module it comes from).
        log.info("event loop: %s", type(asyncio.get_running_loop()).__module__.partition(".")[0])
        database = open_database(settings)
        app.state.database = database
        app.state.engine = database.engine
        app.state.sessionmaker = database.read
        try:
            # The keys of secrets stored encrypted (webhook secrets and headers: callgrid.db.encrypted).
            await load_keyring(settings, database.write_engine, database.engine)
            # Live rooms: the signer of join tokens and room keys (the server secret), and the
            # presence hub (in this process, or shared through Redis).
            signer = await load_signer(database, settings.secret_key)
            app.state.rooms = LiveRooms(database, settings, signer, make_hub(settings), clock=lambda: app.state.clock())
            # Recorders of rooms with `record`, in the process each participant is connected to.
            recorders = Recorders(
                database, app.state.recording_storage, public_url=settings.public_url,
                ice_servers=settings.ice_servers, clock=lambda: app.state.clock(),
            )
            app.state.rooms.recorders = app.state.recorders = recorders
            await recorders.start()
            await app.state.rooms.start()
            try:
                # Webhook delivery inside this process, unless `callgrid worker` processes do it;
                # the planner's statistics kept current and expired idempotency keys deleted
                # (callgrid.db.maintenance).
                async with (
                    embedded_worker(app.state.sessionmaker, settings, enabled=settings.run_embedded_worker),
                    periodic_statistics(
                        database, settings.analyze_interval_seconds,
                        chores=[lambda: idempotency_keys.purge(database, app.state.clock())],  # keys past their 24 hours
                    ),
                    # Revoked API keys leave this process's key cache at once (tenancy.revocations).
                    revocations.watching(settings.database_url, lambda: app.state.key_cache) as key_watcher,
                    # SIGTERM: the rooms' sockets are closed with their reason before the server's shutdown.
                    first_on_stop(app.state.rooms.hub.close_sessions, timeout=2.0),
                ):
                    app.state.key_watcher = key_watcher
                    # What start-up made lives as long as the process: out of the collector's
                    # way, so full collections (set off by requests that make many objects,
                    # such as a month of slots) walk only what requests make.
                    gc.freeze()
                    yield
            finally:
                await app.state.key_usage.settle()
                await app.state.rooms.stop()
                await recorders.stop()
        finally:
            await database.dispose()
            if app.state.rate_limiter is not None:
                await app.state.rate_limiter.close()
            metrics.process_ended()

    app = FastAPI(
        title="Callgrid",
        version="0.1.0",
        summary="Schedule and run video calls: webinars, bookings, appointments, rooms, signed webhooks.",
        lifespan=lifespan,
        # /docs and /redoc come from callgrid.openapi, with their files from the package (no CDN).
        docs_url=None,
        redoc_url=None,
        # Every operation refuses query parameters it does not take (400 naming them).
        dependencies=[Depends(refuse_unknown_query)],
    )
    app.state.settings = settings
    app.state.clock = clock
    app.state.key_cache = KeyCache(ttl=settings.api_key_cache_seconds)
    app.state.key_usage = KeyUsage(lambda: app.state.database)
    app.state.recording_storage = LocalRecordingStorage(settings.recordings_dir)

    renderers = ErrorRenderers()
    renderers.register(VIDEO_CALLS_PREFIX, render_video_calls_error)
    install_error_handlers(app, renderers)
    openapi.install(app, renderers)  # the document's security, errors in each API's shape; /docs, /redoc
    app.add_middleware(RequestGuard, max_bytes=settings.max_body_bytes, renderers=renderers)
    app.add_middleware(PageHeaders, frame_ancestors=settings.frame_ancestors)  # every HTML page's
    # Before the body is read: a request over its budget is refused at once (callgrid.ratelimits).
    app.state.rate_limiter = Limiter(settings) if settings.rate_limits else None
    if app.state.rate_limiter is not None:
        app.add_middleware(RateLimits, limiter=app.state.rate_limiter, renderers=renderers)
    # Outermost: the request id, the request's log line and metrics (callgrid.observability).
    app.add_middleware(RequestContext, renderers=renderers, metrics=settings.metrics)

    # Routes are matched in this order, one by one: the public APIs' routes first (their
    # prefixes are their own, so the order changes no match, only how many are tried).
    app.include_router(video_calls_router)
    app.include_router(appointments_router)
    app.include_router(event_calls_router)
    app.include_router(directory_router)
    app.include_router(tenancy_router)
    app.include_router(api_keys_router)
    app.include_router(removals_router)
    app.include_router(webhooks_router)
    app.include_router(rooms_router)
    app.include_router(recordings_router)
    app.include_router(room_timeline_router)
    app.include_router(room_replay_router)
    app.include_router(room_replay_pages)  # the replay page and its data (a token or key, no API key)
    app.include_router(event_types_router)
    app.include_router(rooms_live_router)
    app.include_router(room_page_router)
    app.include_router(booking_pages_router)  # public: no API key (the booking pages and their JSON)

    app.include_router(health_router)
    if settings.metrics:
        app.include_router(metrics_router)

    return app
