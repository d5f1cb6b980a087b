"""``obelisk.toml``: schema, loading (merge, env overrides, path prefixes) and the sample config text."""

from obelisk.config.durations import Duration, duration_to_toml, parse_duration
from obelisk.config.errors import ConfigError, ConfigFileExistsError, ConfigProblem, MissingEnvVarError
from obelisk.config.loading import LoadedConfig, default_search_paths, load_config, parse_env_value
from obelisk.config.models import (
    ActivityConfig,
    AllowedHostConfig,
    ApiConfig,
    CodegenCacheConfig,
    ComponentConfig,
    DatabaseBackend,
    DatabaseConfig,
    ExecConfig,
    HttpServerConfig,
    LocationConfig,
    LogConfig,
    MetricsConfig,
    ObeliskConfig,
    PostgresDatabaseConfig,
    RouteConfig,
    SqliteBackend,
    SqliteConfig,
    SqliteDatabaseConfig,
    WebhookEndpointConfig,
    WebUiConfig,
    WorkflowConfig,
)
from obelisk.config.paths import ConfigDirs
from obelisk.config.render import config_to_toml
from obelisk.config.sample import SAMPLE_CONFIG, write_sample_config
from obelisk.config.values import UNLIMITED, parse_socket_addr, resolve_env_vars

__all__ = [
    "SAMPLE_CONFIG",
    "UNLIMITED",
    "ActivityConfig",
    "AllowedHostConfig",
    "ApiConfig",
    "CodegenCacheConfig",
    "ComponentConfig",
    "ConfigDirs",
    "ConfigError",
    "ConfigFileExistsError",
    "ConfigProblem",
    "DatabaseBackend",
    "DatabaseConfig",
    "Duration",
    "ExecConfig",
    "HttpServerConfig",
    "LoadedConfig",
    "LocationConfig",
    "LogConfig",
    "MetricsConfig",
    "MissingEnvVarError",
    "ObeliskConfig",
    "PostgresDatabaseConfig",
    "RouteConfig",
    "SqliteBackend",
    "SqliteConfig",
    "SqliteDatabaseConfig",
    "WebUiConfig",
    "WebhookEndpointConfig",
    "WorkflowConfig",
    "config_to_toml",
    "default_search_paths",
    "duration_to_toml",
    "load_config",
    "parse_duration",
    "parse_env_value",
    "parse_socket_addr",
    "resolve_env_vars",
    "write_sample_config",
]
