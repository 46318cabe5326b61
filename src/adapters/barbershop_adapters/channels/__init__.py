"""Notification channel adapters: one module per provider, all speaking its real HTTP API.

Each adapter implements ``barbershop_core.ports.NotificationChannel``. Failure reasons
are written for the manager who reads them: short, in Russian, and built only from our
own wording and the provider's error *codes* — never from the provider's free text, the
phone number or the message (which carries a temporary password).
"""
