"""Small, fast example targets for the README, the tests and the benchmarks."""
