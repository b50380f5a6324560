"""HTTP plumbing shared by every service: one server factory and one client wrapper."""
