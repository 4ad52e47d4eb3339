"""Figures derived from the projector's read models: the programme KPIs and funnels (`kpis`) and
how much the read models hold (`applied`)."""
