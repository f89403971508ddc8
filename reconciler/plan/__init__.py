"""The Plan: desired x live -> what would change. The contract between plan and apply."""
