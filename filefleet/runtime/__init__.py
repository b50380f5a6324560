"""What every process needs: settings, logging, the background-service base, running an app."""
