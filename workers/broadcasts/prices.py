"""What a broadcast costs: the price table lives in `content.prices` (the send path chooses the
cheaper channel by it too); kept here under its old name for the broadcast modules."""

from content.prices import PriceTable, load_prices

__all__ = ["PriceTable", "load_prices"]
