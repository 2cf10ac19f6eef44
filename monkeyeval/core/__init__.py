"""What every other package builds on: errors, data types, atomic file IO, paths, images, environment."""
