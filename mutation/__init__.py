"""Mutation testing of the code that decides security and delivery (`make mutate`, issue 20)."""
