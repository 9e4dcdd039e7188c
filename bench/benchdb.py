"""Shared by the benchmarks: a throwaway PostgreSQL database of their own."""

import psycopg


def recreate_database(server_url, name):
    """Drop and create database `name` on `server_url` (postgres://user@host:port)."""
    admin_url = f"{server_url.replace('postgres://', 'postgresql://', 1)}/postgres"
    with psycopg.connect(admin_url) as conn:
        conn.autocommit = True
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [name]
        )
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
