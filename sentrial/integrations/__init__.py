"""Integrations with agent frameworks; each module imports its framework, so import it only when
that framework is installed (``sentrial.integrations.langchain`` needs ``langchain-core``)."""
