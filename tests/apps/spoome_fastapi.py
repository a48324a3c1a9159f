"""A FastAPI app shaped like spoo.me's current one, with the plugin mounted in two lines.

Read from spoo-me/spoo, branch ``feat/architecture-revamp`` (2026-03-15): ``app.py`` (the
``create_app`` factory; ``asgi.py`` does ``app = create_app()``), ``config.py`` (pydantic-settings:
``JWT_ISSUER`` "spoo.me", ``JWT_AUDIENCE`` "spoo.me.api", ``JWT_PRIVATE_KEY``/``JWT_PUBLIC_KEY`` for
RS256, else ``JWT_SECRET`` for HS256), ``dependencies.get_current_user`` (``Bearer spoo_<key>`` →
``api-keys`` by SHA-256 ``token_hash``; else a JWT from the header or the ``access_token`` cookie),
``services/click/handlers.V2ClickHandler`` (the click document), ``services/stats_service`` and
``shared/aggregation_strategies`` (``GET /api/v1/stats``), ``routes/redirect_routes`` (the catch-all
``/{short_code}``), ``routes/health_routes``.

What differs from the real app, and why (the tests must run on mongomock, without network):
- the database is a sync (mongomock) one passed to the factory; spoo.me opens pymongo's
  ``AsyncMongoClient`` in its lifespan. The routes call the same collection methods without ``await``.
- ua-parser, tldextract, GeoLite2 and crawlerdetect are replaced by fixed tables of the user agents,
  referrers and IPs the tests send (with the values those libraries give for them).
- only the routes the tests need; no Redis cache, slowapi limits, sessions, OAuth or templates
  (the redirect route's 404 page is a short HTML text).
- ``/api/v1/export`` is a stand-in: spoo.me's own export (the plugin answers that path instead).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import unquote, urlsplit

import jwt as pyjwt
from bson import ObjectId
from fastapi import APIRouter, FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from spoo_export_plugin import ExportASGIMiddleware, ExportSettings  # the plugin, line 1 of 2

ANONYMOUS_OWNER_ID = ObjectId("000000000000000000000000")  # schemas/models/base.py
STATS_SCOPES = {"stats:read", "urls:read", "admin:all"}

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
)
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Mobile/15E148 Safari/604.1"
)
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0"
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
#: ua-parser's ``user_agent.family`` and ``os.family`` for the user agents the tests send.
UA_FAMILIES = {
    CHROME: ("Chrome", "Windows"),
    IPHONE: ("Mobile Safari", "iOS"),
    FIREFOX: ("Firefox", "Linux"),
    GOOGLEBOT: ("Googlebot", "Other"),
}
BOTS = {GOOGLEBOT: "Googlebot"}  # crawlerdetect's name
#: GeoLite2's country and city for the test IPs (others: "Unknown", as spoo.me's GeoIPService falls back).
GEOIP = {
    "203.0.113.7": ("United States", "New York"),
    "198.51.100.4": ("Germany", "Berlin"),
    "192.0.2.9": ("India", "Mumbai"),
}
#: pycountry's alpha-2 codes: spoo.me's stats report countries as codes (convert_country_name).
ALPHA2 = {"United States": "US", "Germany": "DE", "India": "IN"}


@dataclass(frozen=True)
class JWTSettings:
    """config.JWTSettings (env: JWT_ISSUER, JWT_AUDIENCE, JWT_PRIVATE_KEY, JWT_PUBLIC_KEY, JWT_SECRET)."""

    jwt_issuer: str = "spoo.me"
    jwt_audience: str = "spoo.me.api"
    access_token_ttl_seconds: int = 900
    jwt_private_key: str = ""
    jwt_public_key: str = ""
    jwt_secret: str = ""

    @property
    def use_rs256(self) -> bool:
        return bool(self.jwt_private_key and self.jwt_public_key)


@dataclass(frozen=True)
class AppSettings:
    """config.AppSettings (pydantic-settings in spoo.me; its ``db`` sub-config: MONGODB_URI, DB_NAME)."""

    app_url: str = "https://spoo.me"
    app_name: str = "spoo.me"
    cors_origins: tuple[str, ...] = ("*",)
    mongodb_uri: str = "mongodb://localhost:27017/"
    db_name: str = "url-shortener"
    jwt: JWTSettings = field(default_factory=JWTSettings)


def issue_access_token(cfg: JWTSettings, user_id: ObjectId, *, email_verified: bool = True, **extra: Any) -> str:
    """AuthService._generate_access_token: the claims spoo.me puts in the ``access_token`` cookie."""
    now = int(time.time())
    payload = {
        "iss": cfg.jwt_issuer,
        "aud": cfg.jwt_audience,
        "sub": str(user_id),
        "iat": now,
        "exp": now + cfg.access_token_ttl_seconds,
        "amr": ["pwd"],
        "email_verified": email_verified,
        **extra,
    }
    key = cfg.jwt_private_key if cfg.use_rs256 else cfg.jwt_secret
    return pyjwt.encode(payload, key, algorithm="RS256" if cfg.use_rs256 else "HS256")


def current_user(request: Request) -> dict[str, Any] | None:
    """dependencies.get_current_user: an API key, else a JWT (header, then cookie); None when anonymous."""
    db, cfg = request.app.state.db, request.app.state.settings.jwt
    header = request.headers.get("Authorization", "")
    token = header.split(" ", 1)[1].strip() if header.lower().startswith("bearer ") else None
    if token and token.startswith("spoo_"):
        key = db["api-keys"].find_one({"token_hash": hashlib.sha256(token[5:].encode()).hexdigest()})
        if key is None or key.get("revoked"):
            return None
        return {"user_id": key["user_id"], "email_verified": True, "scopes": key.get("scopes", [])}
    token = token or request.cookies.get("access_token")
    if not token:
        return None
    try:
        claims = pyjwt.decode(
            token,
            cfg.jwt_public_key if cfg.use_rs256 else cfg.jwt_secret,
            algorithms=["RS256" if cfg.use_rs256 else "HS256"],
            issuer=cfg.jwt_issuer,
            audience=cfg.jwt_audience,
        )
        if claims.get("type") == "refresh":
            return None
        return {"user_id": ObjectId(claims["sub"]), "email_verified": bool(claims.get("email_verified"))}
    except Exception:
        return None


def client_ip(request: Request) -> str:
    """shared/ip_utils.get_client_ip: the first proxy header that holds an address, else the peer."""
    for name in ("CF-Connecting-IP", "True-Client-IP", "X-Forwarded-For", "X-Real-IP", "X-Client-IP"):
        value = (request.headers.get(name) or "").split(",")[0].strip()
        if value:
            return value
    return request.client.host if request.client else ""


def referrer_domain(referrer: str | None) -> str | None:
    """V2ClickHandler's referrer: the registered domain (tldextract), sanitised; None without one."""
    if not referrer:
        return None
    host = urlsplit(referrer).hostname or referrer
    domain = ".".join(host.split(".")[-2:])  # tldextract; the tests' suffixes have one label
    domain = re.sub(r"[$\x00-\x1F\x7F-\x9F]", "_", domain)
    return re.sub(r"[^a-zA-Z0-9.-]", "_", domain)


def record_click(db: Any, url: dict[str, Any], short_code: str, request: Request, started: float) -> None:
    """V2ClickHandler.handle: one document in ``clicks`` (no user agent stored), then the URL's counters."""
    user_agent = request.headers.get("User-Agent", "")
    if not user_agent:
        return  # ValidationError("Invalid User-Agent"): no analytics, the redirect still happens
    browser, os_name = UA_FAMILIES.get(user_agent, ("Other", "Other"))
    ip = client_ip(request)
    country, city = GEOIP.get(ip, (None, None))
    now = datetime.now(timezone.utc)
    db.clicks.insert_one(
        {
            "clicked_at": now,
            "meta": {"url_id": url["_id"], "short_code": short_code, "owner_id": url["owner_id"]},
            "ip_address": ip,
            "country": country or "Unknown",
            "city": city or request.headers.get("CF-IPCity") or "Unknown",
            "browser": browser,
            "os": os_name,
            "redirect_ms": int((time.perf_counter() - started) * 1000),
            "referrer": referrer_domain(request.headers.get("Referer")),
            "bot_name": BOTS.get(user_agent),
        }
    )
    db.urlsV2.update_one({"_id": url["_id"]}, {"$inc": {"total_clicks": 1}, "$set": {"last_click": now}})


def parse_datetime(value: str | None) -> datetime | None:
    """shared/datetime_utils.parse_datetime: ISO 8601 or epoch seconds, naive = UTC."""
    if not value:
        return None
    if value.isdigit():
        return datetime.fromtimestamp(int(value), tz=timezone.utc)
    parsed = datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith("Z") else value)
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)


def dimension_stage(dim: str) -> list[dict[str, Any]]:
    """aggregation_strategies: one dimension's facet (unique = distinct IPs), top N as spoo.me cuts it."""
    field_, missing, limit = {
        "browser": ("$browser", "Unknown", 20),
        "os": ("$os", "Unknown", 20),
        "country": ("$country", "Unknown", 50),
        "city": ("$city", "Unknown", 50),
        "referrer": ("$referrer", "Direct", 30),
        "short_code": ("$meta.short_code", "Unknown", 100),
    }[dim]
    return [
        {
            "$group": {
                "_id": {"$ifNull": [field_, missing]},
                "total_clicks": {"$sum": 1},
                "unique_clicks": {"$addToSet": "$ip_address"},
            }
        },
        {"$addFields": {"unique_clicks": {"$size": "$unique_clicks"}}},
        {"$sort": {"total_clicks": -1}},
        {"$limit": limit},
    ]


def stats(request: Request) -> dict[str, Any]:
    """StatsService.query for the dimensions above (no time series: mongomock has no ``$dateToString``
    with ``timezone``); raises LookupError/PermissionError for 404/401-403, as spoo.me's AppErrors."""
    db, q = request.app.state.db, request.query_params
    user = current_user(request)
    if user is not None and "scopes" in user and not set(user["scopes"]) & STATS_SCOPES:
        raise PermissionError(403, "Insufficient scope for this operation")
    scope, short_code = q.get("scope", "all"), q.get("short_code")
    now = datetime.now(timezone.utc)
    end = min(parse_datetime(q.get("end_date")) or now, now)
    start = min(parse_datetime(q.get("start_date")) or end - timedelta(days=7), now)
    group_by = [d for d in (q.get("group_by") or "browser").split(",") if d]
    query: dict[str, Any] = {}
    if scope == "anon":
        url = db.urlsV2.find_one({"alias": short_code}, {"private_stats": 1, "owner_id": 1})
        if url is None:
            raise LookupError("short_code not found")
        if url.get("private_stats") and (user is None or url.get("owner_id") != user["user_id"]):
            raise PermissionError(401 if user is None else 403, "access denied - private statistics")
        query["meta.short_code"] = short_code
    elif user is None:
        raise PermissionError(401, "authentication required for scope=all")
    else:
        query["meta.owner_id"] = user["user_id"]
    query["clicked_at"] = {"$gte": start, "$lte": end}
    facets: dict[str, Any] = {
        "_summary": [
            {
                "$group": {
                    "_id": None,
                    "total_clicks": {"$sum": 1},
                    "unique_clicks": {"$addToSet": "$ip_address"},
                    "first_click": {"$min": "$clicked_at"},
                    "last_click": {"$max": "$clicked_at"},
                    "avg_redirection_time": {"$avg": "$redirect_ms"},
                }
            },
            {"$addFields": {"unique_clicks": {"$size": "$unique_clicks"}}},
        ],
        **{dim: dimension_stage(dim) for dim in group_by},
    }
    raw = list(db.clicks.aggregate([{"$match": query}, {"$facet": facets}]))[0]
    summary = (raw["_summary"] or [{"total_clicks": 0, "unique_clicks": 0}])[0]
    metrics: dict[str, list[dict[str, Any]]] = {}
    for dim in group_by:
        for metric in ("clicks", "unique_clicks"):
            key = "total_clicks" if metric == "clicks" else metric
            metrics[f"{metric}_by_{dim}"] = [
                {dim: ALPHA2.get(row["_id"], "XX") if dim == "country" else row["_id"], metric: row[key]}
                for row in raw[dim]
            ]
    return {
        "scope": scope,
        "group_by": group_by,
        "time_range": {"start_date": start.isoformat(), "end_date": end.isoformat()},
        "summary": {"total_clicks": summary["total_clicks"], "unique_clicks": summary["unique_clicks"]},
        "metrics": metrics,
        "api_version": "v1",
    }


def app_error(status: int, message: str) -> JSONResponse:
    """errors.AppError.to_dict() as register_error_handlers answers API paths."""
    codes = {400: "validation_error", 401: "authentication_error", 403: "forbidden", 404: "not_found"}
    return JSONResponse({"error": message, "code": codes[status]}, status_code=status)


def build_routers() -> tuple[APIRouter, APIRouter, APIRouter]:
    """health, api_v1 (prefix /api/v1) and the redirect router, in spoo.me's include order."""
    health, api, redirect = APIRouter(), APIRouter(prefix="/api/v1"), APIRouter()

    @health.get("/health")
    async def health_check(request: Request) -> JSONResponse:
        return JSONResponse({"status": "degraded", "checks": {"mongodb": "ok", "redis": "not_configured"}})

    @api.post("/shorten", status_code=201)
    async def shorten(request: Request) -> JSONResponse:
        """UrlService.create: owned URLs get private_stats=True, anonymous ones the sentinel owner and None."""
        body, user = await request.json(), current_user(request)
        owner = user["user_id"] if user else None
        private = body.get("private_stats", True if owner else None)
        alias = body.get("alias") or secrets.token_urlsafe(5)
        doc = {
            "alias": alias,
            "owner_id": owner or ANONYMOUS_OWNER_ID,
            "created_at": datetime.now(timezone.utc),
            "creation_ip": client_ip(request),
            "long_url": body["long_url"],
            "password": None,
            "block_bots": body.get("block_bots"),
            "max_clicks": None,
            "expire_after": None,
            "status": "ACTIVE",
            "private_stats": private,
            "total_clicks": 0,
            "last_click": None,
        }
        request.app.state.db.urlsV2.insert_one(doc)
        return JSONResponse({"alias": alias, "owner_id": str(owner) if owner else None}, status_code=201)

    @api.post("/keys", status_code=201)
    async def create_key(request: Request) -> JSONResponse:
        """ApiKeyService.create: JWT only, verified e-mail; ``spoo_`` + token_urlsafe(32), stored hashed."""
        user, body = current_user(request), await request.json()
        if user is None or "scopes" in user:
            return app_error(401, "Authentication required")
        raw, now = secrets.token_urlsafe(32), datetime.now(timezone.utc)
        request.app.state.db["api-keys"].insert_one(
            {
                "user_id": user["user_id"],
                "token_prefix": raw[:8],
                "token_hash": hashlib.sha256(raw.encode()).hexdigest(),
                "name": body["name"],
                "description": None,
                "scopes": body["scopes"],
                "expires_at": None,
                "created_at": now,
                "revoked": False,
            }
        )
        return JSONResponse({"token": "spoo_" + raw, "scopes": body["scopes"]}, status_code=201)

    @api.get("/stats")
    async def stats_v1(request: Request) -> JSONResponse:
        try:
            return JSONResponse(stats(request))
        except LookupError as exc:
            return app_error(404, str(exc))
        except PermissionError as exc:
            return app_error(*exc.args)

    @api.get("/export")
    async def export_v1(request: Request) -> JSONResponse:
        return JSONResponse({"served_by": "spoo.me's own export route"})

    @redirect.api_route("/{short_code}", methods=["GET", "HEAD"], include_in_schema=False)
    async def redirect_url(short_code: str, request: Request) -> Response:
        short_code, started = unquote(short_code), time.perf_counter()
        url = request.app.state.db.urlsV2.find_one({"alias": short_code, "status": "ACTIVE"})
        if url is None:
            return HTMLResponse("<h1>404</h1><p>URL NOT FOUND</p>", status_code=404)
        if request.method not in ("HEAD", "OPTIONS"):
            record_click(request.app.state.db, url, short_code, request, started)
        resp = RedirectResponse(url["long_url"], status_code=302)
        resp.headers["X-Robots-Tag"] = "noindex, nofollow"
        return resp

    return health, api, redirect


def create_app(
    settings: AppSettings | None = None, *, database: Any = None, export_route: str | None = None
) -> FastAPI:
    """app.create_app, plus the plugin. ``database``: the (mongomock) database the lifespan would open;
    ``export_route``: the plugin's route when a test moves it from ``/api/v1/export``."""
    settings = settings or AppSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.db = database  # spoo.me: AsyncMongoClient(settings.db.mongodb_uri)[settings.db.db_name]
        app.state.settings = settings
        yield

    app = FastAPI(title=settings.app_name, version="1.0.0", redoc_url=None, lifespan=lifespan)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=list(settings.cors_origins),
        allow_credentials=True,
        allow_methods=["*"],
        allow_headers=["*"],
    )
    for router in build_routers():  # redirect_router last: its /{short_code} catches every one-segment path
        app.include_router(router)
    # the plugin, line 2 of 2 (spoo.me's MongoDB URI and JWT settings; mongomock here)
    app.add_middleware(
        ExportASGIMiddleware,
        settings=ExportSettings(
            database=database,  # spoo.me: mongodb_uri=settings.db.mongodb_uri, database_name=settings.db.db_name
            jwt_secret=settings.jwt.jwt_secret or None,
            jwt_public_key=settings.jwt.jwt_public_key or None,
            jwt_issuer=settings.jwt.jwt_issuer,
            jwt_audience=settings.jwt.jwt_audience,
            **({"route": export_route} if export_route else {}),
        ),
    )
    return app
