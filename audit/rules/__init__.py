"""The audit's rules by domain, each a mixin over the shared replay state (`audit.rules.core`);
`audit.checks` composes them into the auditor."""
