"""The wallet API (FastAPI): sign-in with Ethereum, member wallets and orders, DSO actions,
public slots and events. `gridshare api --network <id>`; see README.md."""
