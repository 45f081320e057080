"""Privacy (GDPR): erase and export everything stored about a user, and suppression."""
