"""A market maker: one bid and one ask around the microprice, skewed against its inventory.

Parameters (decimal strings where they are amounts):
  symbol (BTCUSDT), size (0.01), half_spread (1.0, price units each side of the fair price), tick (0.5),
  skew (0.5: price units the quotes move per ``size`` of inventory), max_position (0.05), requote_ticks (2:
  how far the wanted price may drift from a working quote before it is replaced).

Fair price = microprice - skew * position / size. The bid never rests above the best bid, the ask never below
the best ask, so the quotes always rest (maker fees). No quote on the side that would take the position
beyond ``max_position``.
"""

from __future__ import annotations

from replay.backtest.strategy import Book, Strategy, price_of, quantity_of


class MarketMaker(Strategy):
    def on_start(self) -> None:
        params = self.ctx.params
        self.symbol = str(params.get("symbol", "BTCUSDT"))
        self.size = quantity_of(params.get("size", "0.01"))
        self.half_spread = price_of(params.get("half_spread", "1.0"))
        self.tick = price_of(params.get("tick", "0.5"))
        self.skew = price_of(params.get("skew", "0.5"))
        self.max_position = quantity_of(params.get("max_position", "0.05"))
        self.requote = int(params.get("requote_ticks", 2)) * self.tick

    def on_book(self, book: Book) -> None:
        if book.symbol != self.symbol or book.bid_price is None or book.ask_price is None:
            return
        fair = book.microprice
        if fair is None:
            return
        position = self.ctx.position(self.symbol)
        fair -= self.skew * position // self.size
        bid = min((fair - self.half_spread) // self.tick * self.tick, book.bid_price)
        ask = max(-((-(fair + self.half_spread)) // self.tick) * self.tick, book.ask_price)
        wanted = {
            "BUY": bid if position + self.size <= self.max_position else None,
            "SELL": ask if position - self.size >= -self.max_position else None,
        }
        kept: dict[str, int] = {}
        for order in self.ctx.working(self.symbol):
            price = wanted[order.side]
            near = price is not None and order.price is not None and abs(order.price - price) < self.requote
            if near and order.side not in kept and order.price is not None:
                kept[order.side] = order.price
                continue
            self.ctx.cancel(order.order_id)
        # Never cross a quote of our own that stays: that would trade with ourselves.
        if wanted["BUY"] is not None and "SELL" in kept:
            wanted["BUY"] = min(wanted["BUY"], kept["SELL"] - self.tick)
        if wanted["SELL"] is not None and "BUY" in kept:
            wanted["SELL"] = max(wanted["SELL"], kept["BUY"] + self.tick)
        for side, price in wanted.items():
            if price is not None and side not in kept:
                self.ctx.submit(self.symbol, side, self.size, price)
