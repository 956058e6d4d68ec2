"""Sales: leads (线索) and their assignment, pipelines and opportunities (商机), and what is sold: products,
quotes, contracts, orders and payments (回款)."""

from .commerce import (  # noqa: F401
    Contract,
    ContractAttachment,
    ContractStatus,
    Order,
    OrderLine,
    OrderStatus,
    Payment,
    PaymentPlan,
    PriceList,
    PriceListItem,
    Product,
    Quote,
    QuoteLine,
    QuoteStatus,
)
from .leads import AssignmentMethod, AssignmentRule, Lead, LeadAssignment, LeadStatus  # noqa: F401
from .pipeline import Opportunity, OpportunityLine, Pipeline, Stage, StageHistory, StageKind  # noqa: F401
