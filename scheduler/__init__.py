"""suanchou (算筹): the scheduler that pools a city's government compute."""

__version__ = "0.1.0"
