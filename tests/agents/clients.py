"""The real agent CLIs (installed by `npm ci --prefix tests/agents`), run as subprocesses against the gateway.

Each run gets its own HOME and config folder under the test's tmp dir (nothing read from or written to the
user's), telemetry, error reports and update checks off, and every proxy-aware client pointed at a closed local
port for anything that is not loopback, so a run that tried to reach the internet fails instead of leaking.
"""

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

BIN = Path(__file__).resolve().parent / "node_modules" / ".bin"
PROMPT = "Run the shell command the task needs and tell me what it prints."
RUN_TIMEOUT = 180
# Not loopback → this closed port: a stray request fails at once instead of going out.
NO_EGRESS = {
    "HTTP_PROXY": "http://127.0.0.1:9",
    "HTTPS_PROXY": "http://127.0.0.1:9",
    "ALL_PROXY": "http://127.0.0.1:9",
    "http_proxy": "http://127.0.0.1:9",
    "https_proxy": "http://127.0.0.1:9",
    "all_proxy": "http://127.0.0.1:9",
    "NO_PROXY": "127.0.0.1,localhost",
    "no_proxy": "127.0.0.1,localhost",
}


def installed(name: str) -> bool:
    return (BIN / name).exists()


def missing_reason(name: str) -> str:
    if shutil.which("npm") is None:
        return f"the {name} CLI needs npm (not on PATH)"
    return f"the {name} CLI is not installed: run `npm ci --prefix tests/agents`"


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str

    def __str__(self) -> str:
        return f"exit {self.returncode}\n--- stdout\n{self.stdout[-4000:]}\n--- stderr\n{self.stderr[-4000:]}"


def _base_env(home: Path) -> dict[str, str]:
    keep = {name: os.environ[name] for name in ("PATH", "LANG", "TERM") if name in os.environ}
    return {**keep, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_CACHE_HOME": str(home / ".cache"), "CI": "true", "NO_COLOR": "1", **NO_EGRESS}


def _run(argv: list[str], env: dict[str, str], cwd: Path) -> Run:
    done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=RUN_TIMEOUT,
                          stdin=subprocess.DEVNULL)
    return Run(done.returncode, done.stdout, done.stderr)


def codex(tmp: Path, *, base_url: str, key: str, model: str, websocket: bool) -> Run:
    """`codex exec` with a custom Responses provider: WebSocket first (HTTP only on a 426) or HTTP only."""
    home, work = tmp / "home", tmp / "work"
    codex_home = home / ".codex"
    codex_home.mkdir(parents=True)
    work.mkdir()
    (codex_home / "config.toml").write_text(
        f'model = "{model}"\n'
        'model_provider = "harnmodel"\n'
        "check_for_update_on_startup = false\n"
        "[analytics]\nenabled = false\n"
        "[feedback]\nenabled = false\n"
        "[model_providers.harnmodel]\n"
        'name = "harnmodel"\n'
        f'base_url = "{base_url}"\n'
        'env_key = "HARNMODEL_API_KEY"\n'
        'wire_api = "responses"\n'
        f"supports_websockets = {'true' if websocket else 'false'}\n"
        "request_max_retries = 0\nstream_max_retries = 0\n"
    )
    env = {**_base_env(home), "CODEX_HOME": str(codex_home), "HARNMODEL_API_KEY": key}
    argv = [str(BIN / "codex"), "exec", "--skip-git-repo-check", "--dangerously-bypass-approvals-and-sandbox",
            "--color", "never", PROMPT]
    return _run(argv, env, work)


def claude(tmp: Path, *, origin: str, key: str, model: str) -> Run:
    """Claude Code non-interactive (`-p`), its Bash tool allowed, every model it picks mapped to ours."""
    home, work = tmp / "home", tmp / "work"
    home.mkdir(parents=True)
    work.mkdir()
    env = {
        **_base_env(home),
        "CLAUDE_CONFIG_DIR": str(home / ".claude"),
        "ANTHROPIC_BASE_URL": origin,
        "ANTHROPIC_API_KEY": key,
        "ANTHROPIC_MODEL": model,
        "ANTHROPIC_SMALL_FAST_MODEL": model,
        "ANTHROPIC_DEFAULT_HAIKU_MODEL": model,
        "ANTHROPIC_DEFAULT_SONNET_MODEL": model,
        "ANTHROPIC_DEFAULT_OPUS_MODEL": model,
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_TELEMETRY": "1",
        "DISABLE_ERROR_REPORTING": "1",
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_BUG_COMMAND": "1",
        "CLAUDE_CODE_USE_BEDROCK": "0",
    }
    argv = [str(BIN / "claude"), "-p", PROMPT, "--model", model, "--allowedTools", "Bash",
            "--output-format", "text"]
    return _run(argv, env, work)


def gemini(tmp: Path, *, origin: str, key: str, model: str) -> Run:
    """Gemini CLI non-interactive (a prompt, no TTY), tools approved (`--yolo`), API-key auth on our origin."""
    home, work = tmp / "home", tmp / "work"
    settings = home / ".gemini"
    settings.mkdir(parents=True)
    work.mkdir()
    (settings / "settings.json").write_text(
        '{"security": {"auth": {"selectedType": "gemini-api-key"}},'
        ' "general": {"disableAutoUpdate": true, "disableUpdateNag": true},'
        ' "privacy": {"usageStatisticsEnabled": false},'
        ' "telemetry": {"enabled": false}}'
    )
    env = {**_base_env(home), "GEMINI_API_KEY": key, "GOOGLE_GEMINI_BASE_URL": origin,
           "GEMINI_CLI_NO_RELAUNCH": "true", "GEMINI_CLI_TRUST_WORKSPACE": "true"}
    argv = [str(BIN / "gemini"), "--model", model, "--yolo", "--prompt", PROMPT]
    return _run(argv, env, work)
