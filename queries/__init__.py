"""The named SQL queries (`*.sql`), shipped as package data so an installed facelake finds them."""
