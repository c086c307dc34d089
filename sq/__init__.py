"""ShrivenQuant's command line and settings."""
