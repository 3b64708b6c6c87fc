"""Weights: fetching (Hub and URL sources), verification, conversion, save_pretrained / push_to_hub."""
