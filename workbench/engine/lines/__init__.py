"""Line-level hot spots: line_profiler or cProfile on chosen stages, and the cost of looking."""
