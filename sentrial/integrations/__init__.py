"""Integrations with agent frameworks; each module imports its framework, so import it only when
that framework is installed (``sentrial.integrations.langchain`` needs ``langchain-core``). The
published package's faces over them (``sentrial.langchain``, ``sentrial.claude_code``, ...) import
them only when used; ``_sessions.py``, what those faces share, imports no framework."""
