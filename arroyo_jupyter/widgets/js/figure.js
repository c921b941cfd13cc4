import { h, drawFigure, purgeFigure } from "./common.js";

// Any Plotly figure (JSON built in the kernel), drawn with the plotly.js the kernel ships.

function render({ model, el }) {
  const plot = h("div", "arroyo-widget arroyo-plot arroyo-figure");
  el.appendChild(plot);
  const onFig = () => drawFigure(model, plot, model.get("figure_json"));
  model.on("change:figure_json", onFig);
  onFig();
  return () => {
    model.off("change:figure_json", onFig);
    purgeFigure(plot);
  };
}

export default { render };
