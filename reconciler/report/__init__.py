"""Rendering plans and apply results for people: terminal text, PR-comment markdown, GitHub."""
