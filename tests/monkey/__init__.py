"""Tests of the native Monkey / TextMonkey implementation (a package: basenames may repeat)."""
